/*
 * api_offsets_commit.c: OffsetCommit (0-9), OffsetFetch (0-9, including
 * the multi-group form of v8+) and OffsetDelete (0).
 *
 * The handlers check topics and partitions against the registry (a commit
 * for a partition that does not exist is refused with
 * UNKNOWN_TOPIC_OR_PARTITION, as Kafka does), then hand the rest to the
 * coordinator (group.h). OffsetCommit and OffsetDelete are answered once
 * their records are durable in __consumer_offsets; OffsetFetch reads the
 * coordinator's cache (and, for RequireStable, the transaction
 * coordinator's pending TxnOffsetCommit offsets, KIP-447).
 */
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "runnel.h"
#include "txn_coord.h"

static int rn__partition_exists(rn_broker_t *b, rn_str_t topic, int32_t partition) {
  return rn_topic_partition(rn_topic_find(b, topic), partition) != NULL;
}

/* ---- OffsetCommit ------------------------------------------------------------- */

typedef struct rn__oc_ctx {
  rn_req_t *req;
  rn_OffsetCommitRequest r;
  rn_offset_commit_t *c;
} rn__oc_ctx_t;

static void rn__oc_done(void *arg, int16_t err) {
  rn__oc_ctx_t *ctx = arg;
  rn_req_t *req = ctx->req;
  rn_OffsetCommitRequest *r = &ctx->r;
  (void)err;
  rn_OffsetCommitResponse resp;
  rn_OffsetCommitResponse_init(&resp);
  int32_t nt = r->Topics_count > 0 ? r->Topics_count : 0;
  resp.Topics = RN_ALLOC(req, rn_OffsetCommitResponse_OffsetCommitResponseTopic, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  int32_t k = 0;
  for (int32_t i = 0; i < nt; i++) {
    rn_OffsetCommitRequest_OffsetCommitRequestTopic *t = &r->Topics[i];
    rn_OffsetCommitResponse_OffsetCommitResponseTopic *rt = &resp.Topics[i];
    rn_OffsetCommitResponse_OffsetCommitResponseTopic_init(rt);
    rt->Name = t->Name;
    int32_t np = t->Partitions_count > 0 ? t->Partitions_count : 0;
    rt->Partitions = RN_ALLOC(req, rn_OffsetCommitResponse_OffsetCommitResponsePartition, np + 1);
    if (!rt->Partitions) goto oom;
    rt->Partitions_count = np;
    for (int32_t j = 0; j < np; j++, k++) {
      rn_OffsetCommitResponse_OffsetCommitResponsePartition_init(&rt->Partitions[j]);
      rt->Partitions[j].PartitionIndex = t->Partitions[j].PartitionIndex;
      rt->Partitions[j].ErrorCode = ctx->c[k].error;
    }
  }
  RN_RESPOND(req, OffsetCommitResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building OffsetCommit response");
}

void rn_api_OffsetCommit(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn__oc_ctx_t *ctx = RN_ALLOC(req, rn__oc_ctx_t, 1);
  if (!ctx) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->req = req;
  rn_OffsetCommitRequest *r = &ctx->r;
  rn_OffsetCommitRequest_init(r);
  if (rn_OffsetCommitRequest_decode(&req->body, &req->arena, req->api_version, r)) {
    rn_req_protocol_error(req, "malformed OffsetCommit request");
    return;
  }
  int64_t n = 0;
  for (int32_t i = 0; i < r->Topics_count; i++)
    n += r->Topics[i].Partitions_count > 0 ? r->Topics[i].Partitions_count : 0;
  ctx->c = RN_ALLOC(req, rn_offset_commit_t, n + 1);
  if (!ctx->c) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < r->Topics_count; i++) {
    rn_OffsetCommitRequest_OffsetCommitRequestTopic *t = &r->Topics[i];
    for (int32_t j = 0; j < t->Partitions_count; j++, k++) {
      rn_OffsetCommitRequest_OffsetCommitRequestPartition *p = &t->Partitions[j];
      rn_offset_commit_t *c = &ctx->c[k];
      c->topic = t->Name;
      c->partition = p->PartitionIndex;
      c->offset = p->CommittedOffset;
      c->leader_epoch = p->CommittedLeaderEpoch;
      c->metadata = p->CommittedMetadata;
      c->commit_ts = p->CommitTimestamp;
      if (!rn__partition_exists(b, t->Name, p->PartitionIndex))
        c->error = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
  }
  rn_commit_params_t cp;
  memset(&cp, 0, sizeof cp);
  cp.group_id = r->GroupId;
  cp.member_id = r->MemberId.len < 0 ? RN_STR_EMPTY : r->MemberId;
  cp.instance_id = r->GroupInstanceId;
  cp.generation = r->GenerationIdOrMemberEpoch;
  cp.retention_ms = r->RetentionTimeMs;
  rn_group_commit(b->groups, &cp, ctx->c, k, rn__oc_done, ctx);
}

/* ---- OffsetFetch --------------------------------------------------------------- */

/* One partition of an answer, before it is put in the version's structs. */
typedef struct rn__of_part {
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch;
  rn_str_t metadata;
  int16_t error;
} rn__of_part_t;

typedef struct rn__of_topic {
  rn_str_t name;
  int32_t n;
  rn__of_part_t *parts;
} rn__of_topic_t;

/* A requested topic (both request forms reduce to this). */
typedef struct rn__of_want {
  rn_str_t name;
  int32_t n;
  const int32_t *parts;
} rn__of_want_t;

typedef struct rn__of_all {
  const rn_offset_t **v;
  int32_t n, cap;
} rn__of_all_t;

static void rn__of_collect(const rn_offset_t *o, void *arg) {
  rn__of_all_t *a = arg;
  if (a->n < a->cap) a->v[a->n++] = o;
}

static int rn__of_cmp(const void *x, const void *y) {
  const rn_offset_t *a = *(const rn_offset_t *const *)x, *b = *(const rn_offset_t *const *)y;
  int c = strcmp(a->topic, b->topic);
  return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

/* require_stable: KIP-447, UNSTABLE_OFFSET_COMMIT while a commit of the
 * partition is being written or an open transaction holds a
 * TxnOffsetCommit offset for it (txn_coord.h). */
static void rn__of_fill(rn__of_part_t *p, rn_broker_t *b, rn_str_t group_id, const rn_group_t *g,
                        rn_str_t topic, int32_t partition, int require_stable) {
  p->partition = partition;
  p->offset = -1;
  p->leader_epoch = -1;
  p->metadata = RN_STR_EMPTY;
  p->error = RN_ERR_NONE;
  if (require_stable && rn_txn_offset_pending(b, group_id, topic, partition)) {
    p->error = RN_ERR_UNSTABLE_OFFSET_COMMIT;
    return;
  }
  if (!g) return;
  if (require_stable && rn_group_offset_pending(g, topic, partition)) {
    p->error = RN_ERR_UNSTABLE_OFFSET_COMMIT;
    return;
  }
  const rn_offset_t *o = rn_group_offset(g, topic, partition);
  if (!o) return;
  p->offset = o->offset;
  p->leader_epoch = o->leader_epoch;
  p->metadata = rn_str_c(o->metadata);
}

/*
 * Answers one group: the wanted topics (nwant < 0: every committed offset,
 * grouped by topic). Returns the group-level error; *out and *nout the topics
 * (arena). -ENOMEM as a negative value.
 */
static int rn__of_group(rn_req_t *req, rn_str_t group_id, const rn__of_want_t *want, int32_t nwant,
                        int require_stable, rn__of_topic_t **out, int32_t *nout) {
  rn_groups_t *gs = req->conn->b->groups;
  *out = NULL;
  *nout = 0;
  if (gs->stopping) return RN_ERR_NOT_COORDINATOR;
  if (group_id.len < 0) return RN_ERR_INVALID_GROUP_ID;
  rn_group_t *g = rn_groups_find(gs, group_id);
  if (nwant >= 0) {
    rn__of_topic_t *t = RN_ALLOC(req, rn__of_topic_t, nwant + 1);
    if (!t) return -ENOMEM;
    for (int32_t i = 0; i < nwant; i++) {
      t[i].name = want[i].name;
      t[i].n = want[i].n;
      t[i].parts = RN_ALLOC(req, rn__of_part_t, want[i].n + 1);
      if (!t[i].parts) return -ENOMEM;
      for (int32_t j = 0; j < want[i].n; j++)
        rn__of_fill(&t[i].parts[j], req->conn->b, group_id, g, want[i].name, want[i].parts[j],
                    require_stable);
    }
    *out = t;
    *nout = nwant;
    return 0;
  }
  if (!g || !g->noffs) return 0;
  rn__of_all_t all = {RN_ALLOC(req, const rn_offset_t *, g->noffs), 0, (int32_t)g->noffs};
  if (!all.v) return -ENOMEM;
  rn_group_offsets_foreach(g, rn__of_collect, &all);
  qsort(all.v, (size_t)all.n, sizeof *all.v, rn__of_cmp);
  rn__of_topic_t *t = RN_ALLOC(req, rn__of_topic_t, all.n + 1);
  rn__of_part_t *parts = RN_ALLOC(req, rn__of_part_t, all.n + 1);
  if (!t || !parts) return -ENOMEM;
  int32_t nt = 0;
  for (int32_t i = 0; i < all.n; i++) {
    if (i == 0 || strcmp(all.v[i]->topic, all.v[i - 1]->topic) != 0) {
      t[nt].name = rn_str_c(all.v[i]->topic);
      t[nt].parts = &parts[i];
      t[nt].n = 0;
      nt++;
    }
    rn__of_topic_t *cur = &t[nt - 1];
    rn__of_fill(&cur->parts[cur->n++], req->conn->b, group_id, g, cur->name,
                all.v[i]->partition, require_stable);
  }
  *out = t;
  *nout = nt;
  return 0;
}

void rn_api_OffsetFetch(rn_req_t *req) {
  rn_OffsetFetchRequest r;
  rn_OffsetFetchRequest_init(&r);
  if (rn_OffsetFetchRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed OffsetFetch request");
    return;
  }
  rn_OffsetFetchResponse resp;
  rn_OffsetFetchResponse_init(&resp);
  resp.Topics_count = 0;
  resp.Groups_count = 0;
  rn__of_topic_t *t;
  int32_t nt;
  if (req->api_version < 8) {
    /* One group; a null topic list (v2+) asks for every committed offset. */
    int32_t nw = r.Topics_count;
    rn__of_want_t *w = RN_ALLOC(req, rn__of_want_t, nw > 0 ? nw : 1);
    if (!w) goto oom;
    for (int32_t i = 0; i < nw; i++) {
      w[i].name = r.Topics[i].Name;
      w[i].n = r.Topics[i].PartitionIndexes_count > 0 ? r.Topics[i].PartitionIndexes_count : 0;
      w[i].parts = r.Topics[i].PartitionIndexes;
    }
    int err = rn__of_group(req, r.GroupId, w, nw, r.RequireStable, &t, &nt);
    if (err < 0) goto oom;
    if (err) {
      /* Kafka's error response: v2+ carry the error at the top with no
       * topics; v0-1 have no top-level field, so every requested
       * partition carries it. */
      nt = 0;
      if (req->api_version < 2 && nw > 0) {
        t = RN_ALLOC(req, rn__of_topic_t, nw);
        if (!t) goto oom;
        for (int32_t i = 0; i < nw; i++) {
          t[i].name = w[i].name;
          t[i].n = w[i].n;
          t[i].parts = RN_ALLOC(req, rn__of_part_t, w[i].n + 1);
          if (!t[i].parts) goto oom;
          for (int32_t j = 0; j < w[i].n; j++) {
            rn__of_fill(&t[i].parts[j], NULL, RN_STR_EMPTY, NULL, w[i].name, w[i].parts[j], 0);
            t[i].parts[j].error = (int16_t)err;
          }
        }
        nt = nw;
      }
    }
    resp.ErrorCode = (int16_t)err;
    resp.Topics = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseTopic, nt + 1);
    if (!resp.Topics) goto oom;
    for (int32_t i = 0; i < nt; i++) {
      rn_OffsetFetchResponse_OffsetFetchResponseTopic *rt = &resp.Topics[i];
      rn_OffsetFetchResponse_OffsetFetchResponseTopic_init(rt);
      rt->Name = t[i].name;
      rt->Partitions =
          RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponsePartition, t[i].n + 1);
      if (!rt->Partitions) goto oom;
      rt->Partitions_count = t[i].n;
      for (int32_t j = 0; j < t[i].n; j++) {
        rn_OffsetFetchResponse_OffsetFetchResponsePartition *p = &rt->Partitions[j];
        rn_OffsetFetchResponse_OffsetFetchResponsePartition_init(p);
        p->PartitionIndex = t[i].parts[j].partition;
        p->CommittedOffset = t[i].parts[j].offset;
        p->CommittedLeaderEpoch = t[i].parts[j].leader_epoch;
        p->Metadata = t[i].parts[j].metadata;
        p->ErrorCode = t[i].parts[j].error;
      }
    }
    resp.Topics_count = nt;
  } else {
    int32_t ng = r.Groups_count > 0 ? r.Groups_count : 0;
    resp.Groups = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseGroup, ng + 1);
    if (!resp.Groups) goto oom;
    resp.Groups_count = ng;
    for (int32_t gi = 0; gi < ng; gi++) {
      rn_OffsetFetchRequest_OffsetFetchRequestGroup *rg = &r.Groups[gi];
      rn_OffsetFetchResponse_OffsetFetchResponseGroup *og = &resp.Groups[gi];
      rn_OffsetFetchResponse_OffsetFetchResponseGroup_init(og);
      og->GroupId = rg->GroupId;
      int32_t nw = rg->Topics_count;
      rn__of_want_t *w = RN_ALLOC(req, rn__of_want_t, nw > 0 ? nw : 1);
      if (!w) goto oom;
      for (int32_t i = 0; i < nw; i++) {
        w[i].name = rg->Topics[i].Name;
        w[i].n =
            rg->Topics[i].PartitionIndexes_count > 0 ? rg->Topics[i].PartitionIndexes_count : 0;
        w[i].parts = rg->Topics[i].PartitionIndexes;
      }
      int err = rn__of_group(req, rg->GroupId, w, nw, r.RequireStable, &t, &nt);
      if (err < 0) goto oom;
      og->ErrorCode = (int16_t)err;
      og->Topics = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseTopics, nt + 1);
      if (!og->Topics) goto oom;
      og->Topics_count = nt;
      for (int32_t i = 0; i < nt; i++) {
        rn_OffsetFetchResponse_OffsetFetchResponseTopics *rt = &og->Topics[i];
        rn_OffsetFetchResponse_OffsetFetchResponseTopics_init(rt);
        rt->Name = t[i].name;
        rt->Partitions =
            RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponsePartitions, t[i].n + 1);
        if (!rt->Partitions) goto oom;
        rt->Partitions_count = t[i].n;
        for (int32_t j = 0; j < t[i].n; j++) {
          rn_OffsetFetchResponse_OffsetFetchResponsePartitions *p = &rt->Partitions[j];
          rn_OffsetFetchResponse_OffsetFetchResponsePartitions_init(p);
          p->PartitionIndex = t[i].parts[j].partition;
          p->CommittedOffset = t[i].parts[j].offset;
          p->CommittedLeaderEpoch = t[i].parts[j].leader_epoch;
          p->Metadata = t[i].parts[j].metadata;
          p->ErrorCode = t[i].parts[j].error;
        }
      }
    }
  }
  RN_RESPOND(req, OffsetFetchResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building OffsetFetch response");
}

/* ---- OffsetDelete -------------------------------------------------------------- */

typedef struct rn__od_ctx {
  rn_req_t *req;
  rn_OffsetDeleteRequest r;
  rn_offset_delete_t *parts;
} rn__od_ctx_t;

static void rn__od_done(void *arg, int16_t err) {
  rn__od_ctx_t *ctx = arg;
  rn_req_t *req = ctx->req;
  rn_OffsetDeleteRequest *r = &ctx->r;
  rn_OffsetDeleteResponse resp;
  rn_OffsetDeleteResponse_init(&resp);
  resp.ErrorCode = err;
  resp.Topics_count = 0;
  int32_t nt = err || r->Topics_count < 0 ? 0 : r->Topics_count;
  resp.Topics = RN_ALLOC(req, rn_OffsetDeleteResponse_OffsetDeleteResponseTopic, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  int32_t k = 0;
  for (int32_t i = 0; i < nt; i++) {
    rn_OffsetDeleteRequest_OffsetDeleteRequestTopic *t = &r->Topics[i];
    rn_OffsetDeleteResponse_OffsetDeleteResponseTopic *rt = &resp.Topics[i];
    rn_OffsetDeleteResponse_OffsetDeleteResponseTopic_init(rt);
    rt->Name = t->Name;
    int32_t np = t->Partitions_count > 0 ? t->Partitions_count : 0;
    rt->Partitions = RN_ALLOC(req, rn_OffsetDeleteResponse_OffsetDeleteResponsePartition, np + 1);
    if (!rt->Partitions) goto oom;
    rt->Partitions_count = np;
    for (int32_t j = 0; j < np; j++, k++) {
      rn_OffsetDeleteResponse_OffsetDeleteResponsePartition_init(&rt->Partitions[j]);
      rt->Partitions[j].PartitionIndex = t->Partitions[j].PartitionIndex;
      rt->Partitions[j].ErrorCode = ctx->parts[k].error;
    }
  }
  RN_RESPOND(req, OffsetDeleteResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building OffsetDelete response");
}

void rn_api_OffsetDelete(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn__od_ctx_t *ctx = RN_ALLOC(req, rn__od_ctx_t, 1);
  if (!ctx) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->req = req;
  rn_OffsetDeleteRequest *r = &ctx->r;
  rn_OffsetDeleteRequest_init(r);
  if (rn_OffsetDeleteRequest_decode(&req->body, &req->arena, req->api_version, r)) {
    rn_req_protocol_error(req, "malformed OffsetDelete request");
    return;
  }
  int64_t n = 0;
  for (int32_t i = 0; i < r->Topics_count; i++)
    n += r->Topics[i].Partitions_count > 0 ? r->Topics[i].Partitions_count : 0;
  ctx->parts = RN_ALLOC(req, rn_offset_delete_t, n + 1);
  if (!ctx->parts) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < r->Topics_count; i++)
    for (int32_t j = 0; j < r->Topics[i].Partitions_count; j++, k++) {
      rn_offset_delete_t *p = &ctx->parts[k];
      p->topic = r->Topics[i].Name;
      p->partition = r->Topics[i].Partitions[j].PartitionIndex;
      if (!rn__partition_exists(b, p->topic, p->partition))
        p->error = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
  rn_group_delete_offsets(b->groups, r->GroupId, ctx->parts, k, rn__od_done, ctx);
}
