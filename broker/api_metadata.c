/*
 * api_metadata.c: Metadata (0-12) and FindCoordinator (0-5).
 *
 * Metadata describes this single broker (advertised host/port, node id,
 * cluster id, controller = this node, since clients send admin requests to
 * the controller) and the requested topics. A topic that does not exist is
 * created when the broker allows it (auto.create.topics.enable) and the
 * request does (AllowAutoTopicCreation, v4+; always for v0-3); the
 * response waits until the creation is durable, so the client sees the
 * topic at once instead of retrying on LEADER_NOT_AVAILABLE.
 */
#include <string.h>

#include "runnel.h"

/* Authorized-operation bitfields when no authorizer runs: all allowed. */
#define RN_TOPIC_OPS 3576   /* READ WRITE CREATE DELETE ALTER DESCRIBE (ALTER_|DESCRIBE_)CONFIGS */
#define RN_CLUSTER_OPS 8096 /* CREATE ALTER DESCRIBE CLUSTER_ACTION (ALTER_|DESCRIBE_)CONFIGS IDEMPOTENT_WRITE */

typedef struct rn__md_ctx {
  rn_MetadataRequest r;
  int pending;            /* auto-creations in flight */
  rn_err_t *create_err;   /* per requested topic: result of auto-creation */
} rn__md_ctx_t;

static void rn__md_fill_topic(rn_req_t *req, rn_MetadataResponse_MetadataResponseTopic *mt,
                              rn_topic_t *t, int include_ops) {
  rn_broker_t *b = req->conn->b;
  mt->Name = rn_str_c(t->name);
  mt->TopicId = t->id;
  mt->IsInternal = t->internal;
  if (include_ops) mt->TopicAuthorizedOperations = RN_TOPIC_OPS;
  mt->Partitions = RN_ALLOC(req, rn_MetadataResponse_MetadataResponsePartition, t->nparts);
  int32_t *node = RN_ALLOC(req, int32_t, 1);
  if (!mt->Partitions || !node) return;
  *node = b->node_id;
  mt->Partitions_count = t->nparts;
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_MetadataResponse_MetadataResponsePartition *mp = &mt->Partitions[i];
    rn_MetadataResponse_MetadataResponsePartition_init(mp);
    mp->PartitionIndex = i;
    mp->LeaderId = b->node_id;
    mp->LeaderEpoch = 0;
    mp->ReplicaNodes = node;
    mp->ReplicaNodes_count = 1;
    mp->IsrNodes = node;
    mp->IsrNodes_count = 1;
    mp->OfflineReplicas_count = 0;
    if (rn_log_error(t->parts[i].log)) {
      mp->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
      mp->OfflineReplicas = node;
      mp->OfflineReplicas_count = 1;
      mp->IsrNodes_count = 0;
    }
  }
}

typedef struct rn__md_all {
  rn_req_t *req;
  rn_MetadataResponse *resp;
  int include_ops;
} rn__md_all_t;

static void rn__md_add_topic(rn_topic_t *t, void *arg) {
  rn__md_all_t *a = arg;
  if (t->state != RN_TOPIC_LIVE) return;
  rn_MetadataResponse_MetadataResponseTopic *mt = &a->resp->Topics[a->resp->Topics_count++];
  rn_MetadataResponse_MetadataResponseTopic_init(mt);
  rn__md_fill_topic(a->req, mt, t, a->include_ops);
}

static void rn__md_respond(rn_req_t *req) {
  rn__md_ctx_t *ctx = req->hctx;
  rn_MetadataRequest *r = &ctx->r;
  rn_broker_t *b = req->conn->b;
  rn_MetadataResponse resp;
  rn_MetadataResponse_init(&resp);
  resp.Brokers = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseBroker, 1);
  if (!resp.Brokers) goto oom;
  rn_MetadataResponse_MetadataResponseBroker_init(&resp.Brokers[0]);
  resp.Brokers[0].NodeId = b->node_id;
  resp.Brokers[0].Host = rn_str_c(req->conn->lst->adv_host);
  resp.Brokers[0].Port = req->conn->lst->adv_port;
  resp.Brokers_count = 1;
  resp.ClusterId = rn_str_c(b->cluster_id);
  resp.ControllerId = b->node_id;
  if (r->IncludeClusterAuthorizedOperations) resp.ClusterAuthorizedOperations = RN_CLUSTER_OPS;
  int include_ops = r->IncludeTopicAuthorizedOperations;
  /* v0: an empty list means all topics; v1+: null means all. */
  int all = r->Topics_count < 0 || (req->api_version == 0 && r->Topics_count == 0);
  if (all) {
    resp.Topics = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseTopic, b->ntopics + 1);
    if (!resp.Topics) goto oom;
    resp.Topics_count = 0;
    rn__md_all_t a = {req, &resp, include_ops};
    rn_topic_foreach(b, rn__md_add_topic, &a);
  } else {
    resp.Topics = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseTopic, r->Topics_count + 1);
    if (!resp.Topics) goto oom;
    resp.Topics_count = r->Topics_count;
    for (int32_t i = 0; i < r->Topics_count; i++) {
      rn_MetadataRequest_MetadataRequestTopic *rt = &r->Topics[i];
      rn_MetadataResponse_MetadataResponseTopic *mt = &resp.Topics[i];
      rn_MetadataResponse_MetadataResponseTopic_init(mt);
      mt->Name = rt->Name;
      mt->TopicId = rt->TopicId;
      rn_topic_t *t = rt->Name.len >= 0 ? rn_topic_find(b, rt->Name)
                                         : rn_topic_find_id(b, rt->TopicId);
      if (t) {
        rn__md_fill_topic(req, mt, t, include_ops);
        continue;
      }
      rn_topic_t *any = rt->Name.len >= 0 ? rn_topic_find_any(b, rt->Name) : NULL;
      if (rt->Name.len < 0) mt->ErrorCode = RN_ERR_UNKNOWN_TOPIC_ID;
      else if (any && any->state == RN_TOPIC_CREATING) mt->ErrorCode = RN_ERR_LEADER_NOT_AVAILABLE;
      else if (ctx->create_err && ctx->create_err[i])
        mt->ErrorCode = rn_err_kafka(ctx->create_err[i]);
      else mt->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
      if (mt->Name.len < 0 && req->api_version < 12) mt->Name = RN_STR_EMPTY;
    }
  }
  RN_RESPOND(req, MetadataResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building Metadata response");
}

typedef struct rn__md_create {
  rn_req_t *req;
  int32_t index;
} rn__md_create_t;

static void rn__md_created(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  rn__md_create_t *mc = arg;
  rn__md_ctx_t *ctx = mc->req->hctx;
  (void)t;
  (void)msg;
  ctx->create_err[mc->index] = err;
  if (--ctx->pending == 0) rn__md_respond(mc->req);
}

void rn_api_Metadata(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn__md_ctx_t *ctx = RN_ALLOC(req, rn__md_ctx_t, 1);
  if (!ctx) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  req->hctx = ctx;
  rn_MetadataRequest_init(&ctx->r);
  if (rn_MetadataRequest_decode(&req->body, &req->arena, req->api_version, &ctx->r)) {
    rn_req_protocol_error(req, "malformed Metadata request");
    return;
  }
  rn_MetadataRequest *r = &ctx->r;
  int allow = rn_config_i(&b->cfg, RN_BCFG_AUTO_CREATE_TOPICS_ENABLE) &&
              (req->api_version < 4 || r->AllowAutoTopicCreation);
  if (allow && r->Topics_count > 0) {
    ctx->create_err = RN_ALLOC(req, rn_err_t, r->Topics_count);
    if (!ctx->create_err) {
      rn_req_protocol_error(req, "out of memory");
      return;
    }
    ctx->pending = 1; /* held while creations are started */
    for (int32_t i = 0; i < r->Topics_count; i++) {
      rn_str_t name = r->Topics[i].Name;
      if (name.len < 0 || rn_topic_find_any(b, name)) continue;
      /* Skip duplicates of an earlier entry being created. */
      int dup = 0;
      for (int32_t j = 0; j < i && !dup; j++)
        dup = r->Topics[j].Name.len == name.len &&
              memcmp(r->Topics[j].Name.ptr, name.ptr, (size_t)name.len) == 0;
      if (dup) continue;
      rn__md_create_t *mc = RN_ALLOC(req, rn__md_create_t, 1);
      if (!mc) break;
      mc->req = req;
      mc->index = i;
      char why[256];
      rn_err_t err = rn_admin_create_topic(b, name, -1, NULL, rn__md_created, mc, why, sizeof why);
      if (err) ctx->create_err[i] = err;
      else ctx->pending++;
    }
    if (--ctx->pending > 0) return;
  }
  rn__md_respond(req);
}

/* ---- FindCoordinator --------------------------------------------------------- */

void rn_api_FindCoordinator(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_FindCoordinatorRequest r;
  rn_FindCoordinatorRequest_init(&r);
  if (rn_FindCoordinatorRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed FindCoordinator request");
    return;
  }
  rn_FindCoordinatorResponse resp;
  rn_FindCoordinatorResponse_init(&resp);
  /* Key types: 0 = group, 1 = transaction (KIP-98). */
  int16_t code = (r.KeyType == 0 || r.KeyType == 1) ? RN_ERR_NONE : RN_ERR_INVALID_REQUEST;
  if (req->api_version < 4) {
    resp.ErrorCode = code;
    if (!code) {
      resp.NodeId = b->node_id;
      resp.Host = rn_str_c(req->conn->lst->adv_host);
      resp.Port = req->conn->lst->adv_port;
    } else {
      resp.NodeId = -1;
      resp.Host = RN_STR_EMPTY;
      resp.Port = -1;
      resp.ErrorMessage = rn_str_c("unknown coordinator key type");
    }
  } else {
    resp.Coordinators = RN_ALLOC(req, rn_FindCoordinatorResponse_Coordinator,
                                 r.CoordinatorKeys_count > 0 ? r.CoordinatorKeys_count : 1);
    if (!resp.Coordinators) {
      rn_req_protocol_error(req, "out of memory");
      return;
    }
    resp.Coordinators_count = r.CoordinatorKeys_count > 0 ? r.CoordinatorKeys_count : 0;
    for (int32_t i = 0; i < resp.Coordinators_count; i++) {
      rn_FindCoordinatorResponse_Coordinator *c = &resp.Coordinators[i];
      rn_FindCoordinatorResponse_Coordinator_init(c);
      c->Key = r.CoordinatorKeys[i];
      c->ErrorCode = code;
      c->NodeId = code ? -1 : b->node_id;
      c->Host = code ? RN_STR_EMPTY : rn_str_c(req->conn->lst->adv_host);
      c->Port = code ? -1 : req->conn->lst->adv_port;
      if (code) c->ErrorMessage = rn_str_c("unknown coordinator key type");
    }
  }
  RN_RESPOND(req, FindCoordinatorResponse, &resp);
}
