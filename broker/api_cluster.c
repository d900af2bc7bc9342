/*
 * api_cluster.c: DescribeCluster (0-1), DescribeLogDirs (0-4),
 * OffsetForLeaderEpoch (0-4) and DescribeTopicPartitions (0).
 *
 * runnel is one broker that is its own controller, with every partition
 * led by it at leader epoch 0 since the partition was created (there are
 * no elections). So:
 *
 *   DescribeCluster lists this broker (as Metadata does) and names it the
 *   controller. Asking a broker listener for controllers (v1
 *   EndpointType 2) is MISMATCHED_ENDPOINT_TYPE, an unknown endpoint type
 *   UNSUPPORTED_ENDPOINT_TYPE (Kafka's AuthHelper.computeDescribeCluster-
 *   Response).
 *
 *   DescribeLogDirs reports one log directory, the data directory, with
 *   each partition's size on disk (rn_log_size_bytes(); offset lag 0, no
 *   future replicas) and, from v4, the file system's total and usable
 *   bytes (statvfs; usable = what an unprivileged writer may use). A null
 *   topic list means every partition; requested partitions that do not
 *   exist are left out, as Kafka does.
 *
 *   OffsetForLeaderEpoch answers as Kafka's leader with an epoch cache
 *   holding the single entry (epoch 0, log start offset)
 *   (LeaderEpochFileCache.endOffsetFor): epoch 0 ends at the high
 *   watermark (Kafka returns the log end offset; here the two differ only
 *   by writes still in flight, which no consumer has seen); a larger epoch
 *   is unknown (-1/-1); -1 gives -1/-1; an epoch below -1 gets the start of
 *   epoch 0. A CurrentLeaderEpoch (v2+) other than -1 is checked against
 *   0: larger is UNKNOWN_LEADER_EPOCH, smaller FENCED_LEADER_EPOCH.
 *
 *   DescribeTopicPartitions (KIP-966) pages through topics in name order:
 *   an empty topic list means all topics (from the cursor's topic on), the
 *   response holds at most min(ResponsePartitionLimit,
 *   max.request.partition.size.limit) partitions and NextCursor points at
 *   the first partition left out (KRaftMetadataCache.getTopicMetadataFor-
 *   DescribeTopicResponse). A cursor whose topic is not in a given topic
 *   list is INVALID_REQUEST for every topic.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "runnel.h"

/* Authorized-operation bitfields when no authorizer runs: all allowed
 * (the same values Metadata reports). */
#define RN_TOPIC_OPS 3576
#define RN_CLUSTER_OPS 8096

/* ---- DescribeCluster ------------------------------------------------------------ */

void rn_api_DescribeCluster(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeClusterRequest r;
  rn_DescribeClusterRequest_init(&r);
  if (rn_DescribeClusterRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeCluster request");
    return;
  }
  rn_DescribeClusterResponse resp;
  rn_DescribeClusterResponse_init(&resp);
  resp.EndpointType = 1; /* brokers */
  resp.ClusterId = rn_str_c(b->cluster_id);
  resp.ControllerId = b->node_id;
  resp.Brokers_count = 0;
  if (r.EndpointType == 2) {
    resp.ErrorCode = RN_ERR_MISMATCHED_ENDPOINT_TYPE;
    resp.ErrorMessage = rn_str_c("The request was sent to an endpoint of type BROKER, but we "
                                 "wanted an endpoint of type CONTROLLER");
  } else if (r.EndpointType != 1) {
    resp.ErrorCode = RN_ERR_UNSUPPORTED_ENDPOINT_TYPE;
    resp.ErrorMessage = rn_str_c("Unsupported endpoint type");
  } else {
    resp.Brokers = RN_ALLOC(req, rn_DescribeClusterResponse_DescribeClusterBroker, 1);
    if (!resp.Brokers) {
      rn_req_protocol_error(req, "out of memory");
      return;
    }
    rn_DescribeClusterResponse_DescribeClusterBroker_init(&resp.Brokers[0]);
    resp.Brokers[0].BrokerId = b->node_id;
    resp.Brokers[0].Host = rn_str_c(req->conn->lst->adv_host);
    resp.Brokers[0].Port = req->conn->lst->adv_port;
    resp.Brokers_count = 1;
    if (r.IncludeClusterAuthorizedOperations) resp.ClusterAuthorizedOperations = RN_CLUSTER_OPS;
  }
  RN_RESPOND(req, DescribeClusterResponse, &resp);
}

/* ---- DescribeLogDirs ------------------------------------------------------------ */

typedef rn_DescribeLogDirsResponse_DescribeLogDirsTopic rn__ld_topic_t;
typedef rn_DescribeLogDirsResponse_DescribeLogDirsPartition rn__ld_part_t;

typedef struct rn__ld_all {
  rn_req_t *req;
  rn__ld_topic_t *topics;
  int32_t n;
  int oom;
} rn__ld_all_t;

static void rn__ld_part(rn__ld_part_t *p, const rn_partition_t *part) {
  rn_DescribeLogDirsResponse_DescribeLogDirsPartition_init(p);
  p->PartitionIndex = part->index;
  p->PartitionSize = rn_log_size_bytes(part->log);
  p->OffsetLag = 0;
  p->IsFutureKey = false;
}

static void rn__ld_add_topic(rn_topic_t *t, void *arg) {
  rn__ld_all_t *a = arg;
  if (t->state != RN_TOPIC_LIVE) return;
  rn__ld_topic_t *lt = &a->topics[a->n++];
  rn_DescribeLogDirsResponse_DescribeLogDirsTopic_init(lt);
  lt->Name = rn_str_c(t->name);
  lt->Partitions = RN_ALLOC(a->req, rn__ld_part_t, t->nparts);
  if (!lt->Partitions) {
    a->oom = 1;
    return;
  }
  lt->Partitions_count = t->nparts;
  for (int32_t i = 0; i < t->nparts; i++) rn__ld_part(&lt->Partitions[i], &t->parts[i]);
}

void rn_api_DescribeLogDirs(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeLogDirsRequest r;
  rn_DescribeLogDirsRequest_init(&r);
  if (rn_DescribeLogDirsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeLogDirs request");
    return;
  }
  rn_DescribeLogDirsResponse resp;
  rn_DescribeLogDirsResponse_init(&resp);
  rn_DescribeLogDirsResponse_DescribeLogDirsResult *dir =
      RN_ALLOC(req, rn_DescribeLogDirsResponse_DescribeLogDirsResult, 1);
  if (!dir) goto oom;
  rn_DescribeLogDirsResponse_DescribeLogDirsResult_init(dir);
  resp.Results = dir;
  resp.Results_count = 1;
  char abs[PATH_MAX];
  const char *path = realpath(b->data_dir, abs) ? abs : b->data_dir;
  char *p = rn_arena_memdup(&req->arena, path, strlen(path) + 1);
  if (!p) goto oom;
  dir->LogDir = rn_str_c(p);
  struct statvfs sv;
  if (statvfs(b->data_dir, &sv) == 0) {
    dir->TotalBytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
    dir->UsableBytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
  }
  if (r.Topics_count < 0) {
    rn__ld_all_t a = {req, RN_ALLOC(req, rn__ld_topic_t, b->ntopics + 1), 0, 0};
    if (!a.topics) goto oom;
    rn_topic_foreach(b, rn__ld_add_topic, &a);
    if (a.oom) goto oom;
    dir->Topics = a.topics;
    dir->Topics_count = a.n;
  } else {
    dir->Topics = RN_ALLOC(req, rn__ld_topic_t, r.Topics_count + 1);
    if (!dir->Topics) goto oom;
    dir->Topics_count = 0;
    for (int32_t i = 0; i < r.Topics_count; i++) {
      rn_DescribeLogDirsRequest_DescribableLogDirTopic *rt = &r.Topics[i];
      rn_topic_t *t = rn_topic_find(b, rt->Topic);
      if (!t) continue;
      rn__ld_topic_t *lt = &dir->Topics[dir->Topics_count];
      rn_DescribeLogDirsResponse_DescribeLogDirsTopic_init(lt);
      lt->Name = rt->Topic;
      int32_t np = rt->Partitions_count > 0 ? rt->Partitions_count : 0;
      lt->Partitions = RN_ALLOC(req, rn__ld_part_t, np + 1);
      if (!lt->Partitions) goto oom;
      lt->Partitions_count = 0;
      for (int32_t j = 0; j < np; j++) {
        rn_partition_t *part = rn_topic_partition(t, rt->Partitions[j]);
        if (part) rn__ld_part(&lt->Partitions[lt->Partitions_count++], part);
      }
      if (lt->Partitions_count > 0) dir->Topics_count++;
    }
  }
  RN_RESPOND(req, DescribeLogDirsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building DescribeLogDirs response");
}

/* ---- OffsetForLeaderEpoch --------------------------------------------------------- */

void rn_api_OffsetForLeaderEpoch(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_OffsetForLeaderEpochRequest r;
  rn_OffsetForLeaderEpochRequest_init(&r);
  if (rn_OffsetForLeaderEpochRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed OffsetForLeaderEpoch request");
    return;
  }
  rn_OffsetForLeaderEpochResponse resp;
  rn_OffsetForLeaderEpochResponse_init(&resp);
  int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
  resp.Topics = RN_ALLOC(req, rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  for (int32_t i = 0; i < nt; i++) {
    rn_OffsetForLeaderEpochRequest_OffsetForLeaderTopic *rt = &r.Topics[i];
    rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult *tr = &resp.Topics[i];
    rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_init(tr);
    tr->Topic = rt->Topic.len < 0 ? RN_STR_EMPTY : rt->Topic;
    int32_t np = rt->Partitions_count > 0 ? rt->Partitions_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_OffsetForLeaderEpochResponse_EpochEndOffset, np + 1);
    if (!tr->Partitions) goto oom;
    tr->Partitions_count = np;
    rn_topic_t *t = rn_topic_find(b, rt->Topic);
    for (int32_t j = 0; j < np; j++) {
      rn_OffsetForLeaderEpochRequest_OffsetForLeaderPartition *rp = &rt->Partitions[j];
      rn_OffsetForLeaderEpochResponse_EpochEndOffset *e = &tr->Partitions[j];
      rn_OffsetForLeaderEpochResponse_EpochEndOffset_init(e);
      e->Partition = rp->Partition;
      e->LeaderEpoch = -1;
      e->EndOffset = -1;
      rn_partition_t *p = rn_topic_partition(t, rp->Partition);
      if (!p) e->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      else if (rn_log_error(p->log)) e->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
      else if (rp->CurrentLeaderEpoch != -1 && rp->CurrentLeaderEpoch > 0)
        e->ErrorCode = RN_ERR_UNKNOWN_LEADER_EPOCH;
      else if (rp->CurrentLeaderEpoch != -1 && rp->CurrentLeaderEpoch < 0)
        e->ErrorCode = RN_ERR_FENCED_LEADER_EPOCH;
      else if (rp->LeaderEpoch == 0) {
        e->LeaderEpoch = 0;
        e->EndOffset = rn_log_high_watermark(p->log);
      } else if (rp->LeaderEpoch < -1) {
        /* Older than any epoch we know: the start of the first one. */
        e->LeaderEpoch = rp->LeaderEpoch;
        e->EndOffset = rn_log_start_offset(p->log);
      }
    }
  }
  RN_RESPOND(req, OffsetForLeaderEpochResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building OffsetForLeaderEpoch response");
}

/* ---- DescribeTopicPartitions ------------------------------------------------------ */

typedef rn_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic rn__dtp_topic_t;
typedef rn_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponsePartition rn__dtp_part_t;

/* A topic name to describe (a live topic, or a requested name). */
typedef struct rn__dtp_name {
  rn_str_t name;
  rn_topic_t *t;
} rn__dtp_name_t;

static int rn__str_cmp(rn_str_t a, rn_str_t b) {
  int32_t n = a.len < b.len ? a.len : b.len;
  int c = n > 0 ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int rn__dtp_cmp(const void *x, const void *y) {
  return rn__str_cmp(((const rn__dtp_name_t *)x)->name, ((const rn__dtp_name_t *)y)->name);
}

typedef struct rn__dtp_all {
  rn__dtp_name_t *v;
  int32_t n;
} rn__dtp_all_t;

static void rn__dtp_collect(rn_topic_t *t, void *arg) {
  rn__dtp_all_t *a = arg;
  if (t->state == RN_TOPIC_LIVE) a->v[a->n++] = (rn__dtp_name_t){rn_str_c(t->name), t};
}

/* Fills partitions [first, first + count) of t. */
static int rn__dtp_fill(rn_req_t *req, rn__dtp_topic_t *o, rn_topic_t *t, int32_t first,
                        int32_t count) {
  rn_broker_t *b = req->conn->b;
  o->Partitions = RN_ALLOC(req, rn__dtp_part_t, count + 1);
  int32_t *node = RN_ALLOC(req, int32_t, 1);
  if (!o->Partitions || !node) return -1;
  *node = b->node_id;
  o->Partitions_count = count;
  for (int32_t i = 0; i < count; i++) {
    rn__dtp_part_t *p = &o->Partitions[i];
    rn_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponsePartition_init(p);
    p->PartitionIndex = first + i;
    p->LeaderId = b->node_id;
    p->LeaderEpoch = 0;
    p->ReplicaNodes = node;
    p->ReplicaNodes_count = 1;
    p->IsrNodes = node;
    p->IsrNodes_count = 1;
    p->EligibleLeaderReplicas_count = 0;
    p->LastKnownElr_count = 0;
    p->OfflineReplicas_count = 0;
    if (rn_log_error(t->parts[first + i].log)) {
      p->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
      p->OfflineReplicas = node;
      p->OfflineReplicas_count = 1;
      p->IsrNodes_count = 0;
    }
  }
  return 0;
}

void rn_api_DescribeTopicPartitions(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeTopicPartitionsRequest r;
  rn_DescribeTopicPartitionsRequest_init(&r);
  if (rn_DescribeTopicPartitionsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeTopicPartitions request");
    return;
  }
  rn_DescribeTopicPartitionsResponse resp;
  rn_DescribeTopicPartitionsResponse_init(&resp);
  resp.NextCursor_null = true;
  int all = r.Topics_count <= 0;
  int has_cursor = !r.Cursor_null;
  rn_str_t cursor = has_cursor ? r.Cursor.TopicName : RN_STR_NULL;
  if (cursor.len < 0) cursor = RN_STR_EMPTY;
  int32_t cap = all ? (int32_t)b->ntopics + 1 : r.Topics_count;
  rn__dtp_name_t *names = RN_ALLOC(req, rn__dtp_name_t, cap + 1);
  if (!names) goto oom;
  int32_t n = 0;
  if (all) {
    rn__dtp_all_t a = {names, 0};
    rn_topic_foreach(b, rn__dtp_collect, &a);
    for (int32_t i = 0; i < a.n; i++)
      if (!has_cursor || rn__str_cmp(names[i].name, cursor) >= 0) names[n++] = names[i];
  } else {
    int cursor_listed = 0;
    for (int32_t i = 0; i < r.Topics_count; i++) {
      rn_str_t nm = r.Topics[i].Name.len < 0 ? RN_STR_EMPTY : r.Topics[i].Name;
      if (has_cursor && rn__str_cmp(nm, cursor) < 0) continue;
      if (has_cursor && rn__str_cmp(nm, cursor) == 0) cursor_listed = 1;
      int dup = 0;
      for (int32_t j = 0; j < n && !dup; j++) dup = rn__str_cmp(names[j].name, nm) == 0;
      if (!dup) names[n++] = (rn__dtp_name_t){nm, rn_topic_find(b, nm)};
    }
    if (has_cursor && !cursor_listed) {
      /* Kafka answers with the request's topics, each with the error. */
      resp.Topics = RN_ALLOC(req, rn__dtp_topic_t, r.Topics_count + 1);
      if (!resp.Topics) goto oom;
      resp.Topics_count = r.Topics_count;
      for (int32_t i = 0; i < r.Topics_count; i++) {
        rn_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_init(&resp.Topics[i]);
        resp.Topics[i].ErrorCode = RN_ERR_INVALID_REQUEST;
        resp.Topics[i].Name = r.Topics[i].Name;
        resp.Topics[i].Partitions_count = 0;
      }
      RN_RESPOND(req, DescribeTopicPartitionsResponse, &resp);
      return;
    }
  }
  qsort(names, (size_t)n, sizeof *names, rn__dtp_cmp);
  int64_t limit = rn_config_i(&b->cfg, RN_BCFG_MAX_REQUEST_PARTITION_SIZE_LIMIT);
  if (r.ResponsePartitionLimit < limit) limit = r.ResponsePartitionLimit;
  int64_t remaining = limit > 0 ? limit : 0;
  resp.Topics = RN_ALLOC(req, rn__dtp_topic_t, n + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = 0;
  for (int32_t i = 0; i < n; i++) {
    rn__dtp_name_t *nm = &names[i];
    if (remaining == 0) {
      /* The next page starts with this topic. */
      resp.NextCursor_null = false;
      resp.NextCursor.TopicName = nm->name;
      resp.NextCursor.PartitionIndex = 0;
      break;
    }
    rn__dtp_topic_t *o = &resp.Topics[resp.Topics_count];
    rn_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_init(o);
    o->Name = nm->name;
    o->Partitions_count = 0;
    rn_topic_t *t = nm->t;
    if (!t) {
      /* A requested name that is no topic (a vanished cursor topic of an
       * all-topics listing is skipped instead). */
      if (all) continue;
      o->ErrorCode = rn_topic_name_check(nm->name, NULL, 0) ? RN_ERR_INVALID_TOPIC_EXCEPTION
                                                            : RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      o->TopicAuthorizedOperations = RN_TOPIC_OPS;
      resp.Topics_count++;
      continue;
    }
    o->TopicId = t->id;
    o->IsInternal = t->internal;
    o->TopicAuthorizedOperations = RN_TOPIC_OPS;
    int32_t first = has_cursor && rn__str_cmp(nm->name, cursor) == 0 ? r.Cursor.PartitionIndex : 0;
    if (first < 0) first = 0;
    if (first > t->nparts) first = t->nparts;
    int32_t count = t->nparts - first;
    int more = count > remaining;
    if (more) count = (int32_t)remaining;
    if (rn__dtp_fill(req, o, t, first, count)) goto oom;
    resp.Topics_count++;
    if (more) {
      resp.NextCursor_null = false;
      resp.NextCursor.TopicName = nm->name;
      resp.NextCursor.PartitionIndex = first + count;
      break;
    }
    remaining -= count;
  }
  RN_RESPOND(req, DescribeTopicPartitionsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building DescribeTopicPartitions response");
}
