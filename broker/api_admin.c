/*
 * api_admin.c: CreateTopics (0-7), DeleteTopics (0-6), DescribeConfigs
 * (0-4), and the topic-creation path shared with Metadata auto-creation.
 * (CreatePartitions and DeleteRecords: api_partitions.c; AlterConfigs,
 * IncrementalAlterConfigs and dynamic broker configs: api_configs.c.)
 *
 * A topic is created in three steps: its partition logs are opened
 * (directories created), its creation is appended to the metadata log and
 * fdatasync'd, and only then does it become visible (RN_TOPIC_LIVE) and
 * the request is answered. Deletion appends the deletion record first, then
 * closes and removes the partition logs, and answers when the files are
 * gone, so a client may re-create the name as soon as it has the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runnel.h"


/* ---- shared creation path ------------------------------------------------ */

typedef struct rn__create {
  rn_broker_t *b;
  rn_topic_t *t;
  rn_create_cb cb;
  void *arg;
} rn__create_t;

static void rn__create_failed_deleted(void *arg) { (void)arg; }

static void rn__create_durable(void *arg, rn_err_t err) {
  rn__create_t *c = arg;
  if (err) {
    RN_ERROR("topic %s not created: metadata log write failed: %s", c->t->name,
             rn_err_name(err));
    rn_topic_delete(c->b, c->t, rn__create_failed_deleted, NULL);
    c->cb(c->arg, NULL, RN_ERR_KAFKA_STORAGE_ERROR, "metadata log write failed");
  } else {
    c->t->state = RN_TOPIC_LIVE;
    RN_INFO("created topic %s with %d partitions", c->t->name, c->t->nparts);
    c->cb(c->arg, c->t, 0, NULL);
  }
  free(c);
}

/* Validates a creation without side effects. */
static rn_err_t rn__create_check(rn_broker_t *b, rn_str_t name, int32_t nparts, char *errbuf,
                                 size_t errlen) {
  rn_err_t err = rn_topic_name_check(name, errbuf, errlen);
  if (err) return err;
  rn_topic_t *t = rn_topic_find_any(b, name);
  if (t) {
    snprintf(errbuf, errlen, "Topic '%.*s' %s.", (int)name.len, (const char *)name.ptr,
             t->state == RN_TOPIC_DELETING ? "is marked for deletion" : "already exists");
    return RN_ERR_TOPIC_ALREADY_EXISTS;
  }
  int32_t maxp = (int32_t)rn_config_i(&b->cfg, RN_BCFG_MAX_PARTITIONS_PER_TOPIC);
  if (nparts <= 0 || nparts > maxp) {
    snprintf(errbuf, errlen,
             "Number of partitions must be between 1 and %d (runnel.max.partitions.per.topic).",
             maxp);
    return RN_ERR_INVALID_PARTITIONS;
  }
  return 0;
}

rn_err_t rn_admin_create_topic(rn_broker_t *b, rn_str_t name, int32_t nparts,
                               const rn_topic_config_t *cfg, rn_create_cb cb, void *arg,
                               char *errbuf, size_t errlen) {
  if (nparts == -1) nparts = (int32_t)rn_config_i(&b->cfg, RN_BCFG_NUM_PARTITIONS);
  rn_err_t err = rn__create_check(b, name, nparts, errbuf, errlen);
  if (err) return err;
  rn__create_t *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  char cname[256];
  snprintf(cname, sizeof cname, "%.*s", (int)name.len, (const char *)name.ptr);
  rn_topic_t *t;
  err = rn_topic_create(b, cname, rn_uuid_random(), nparts, cfg, &t);
  if (err) {
    snprintf(errbuf, errlen, "cannot create partition logs: %s", rn_err_str(err));
    free(c);
    return RN_ERR_KAFKA_STORAGE_ERROR;
  }
  t->state = RN_TOPIC_CREATING;
  c->b = b;
  c->t = t;
  c->cb = cb;
  c->arg = arg;
  err = rn_meta_topic_created(b, t, rn__create_durable, c);
  if (err) {
    rn_topic_delete(b, t, rn__create_failed_deleted, NULL);
    free(c);
    snprintf(errbuf, errlen, "metadata log unavailable: %s", rn_err_str(err));
    return RN_ERR_KAFKA_STORAGE_ERROR;
  }
  return 0;
}

/* ---- config sources (CreateTopics v5+, DescribeConfigs v1+) ------------------ */

/* ConfigSource codes, in order of precedence (KIP-226). */
enum {
  RN_SRC_TOPIC = 1,           /* DYNAMIC_TOPIC_CONFIG */
  RN_SRC_DYNAMIC_BROKER = 2,  /* DYNAMIC_BROKER_CONFIG */
  RN_SRC_DYNAMIC_DEFAULT = 3, /* DYNAMIC_DEFAULT_BROKER_CONFIG */
  RN_SRC_STATIC_BROKER = 4,   /* STATIC_BROKER_CONFIG */
  RN_SRC_DEFAULT = 5,         /* DEFAULT_CONFIG */
};

/* One place a config's value can come from (a DescribeConfigs synonym). */
typedef struct rn__layer {
  int source;
  const char *name;
  const char *value;
} rn__layer_t;

#define RN__MAX_LAYERS 5

/*
 * Appends the layers of broker config k, highest precedence first: this
 * broker's dynamic value, the cluster-wide dynamic default, the static
 * value, the built-in default. with_node 0 leaves out this broker's level
 * (the cluster-default resource). Returns the new count.
 */
static int rn__broker_layers(rn_broker_t *b, int k, int with_node, rn__layer_t *out, int n) {
  const char *name = rn_bcfg_defs[k].name, *v;
  if (with_node && (v = rn_dyncfg_value(b, 1, k)))
    out[n++] = (rn__layer_t){RN_SRC_DYNAMIC_BROKER, name, v};
  if ((v = rn_dyncfg_value(b, 0, k))) out[n++] = (rn__layer_t){RN_SRC_DYNAMIC_DEFAULT, name, v};
  int set = 0;
  v = rn_dyncfg_static(b, k, &set);
  if (set && v) out[n++] = (rn__layer_t){RN_SRC_STATIC_BROKER, name, v};
  if (rn_bcfg_defs[k].dflt) out[n++] = (rn__layer_t){RN_SRC_DEFAULT, name, rn_bcfg_defs[k].dflt};
  return n;
}

/* Layers of topic config k for a topic with overrides tc. */
static int rn__topic_layers(rn_broker_t *b, const rn_topic_config_t *tc, int k, rn__layer_t *out) {
  int n = 0;
  if (tc && tc->v[k].str) out[n++] = (rn__layer_t){RN_SRC_TOPIC, rn_tcfg_defs[k].name, tc->v[k].str};
  int bi = rn_config_find(rn_tcfg_defs[k].synonym);
  if (bi >= 0) n = rn__broker_layers(b, bi, 1, out, n);
  return n;
}

/* ---- CreateTopics ------------------------------------------------------------ */

typedef struct rn__ct_ctx {
  rn_req_t *req;
  rn_CreateTopicsResponse resp;
  int pending;
} rn__ct_ctx_t;

typedef struct rn__ct_one {
  rn__ct_ctx_t *ctx;
  int32_t index;
} rn__ct_one_t;

static rn_str_t rn__arena_msg(rn_req_t *req, const char *msg);

/* Fills the v5+ config listing of a created (or validated) topic. */
static void rn__ct_fill_configs(rn_req_t *req, rn_CreateTopicsResponse_CreatableTopicResult *res,
                                const rn_topic_config_t *tc) {
  rn_broker_t *b = req->conn->b;
  res->Configs = RN_ALLOC(req, rn_CreateTopicsResponse_CreatableTopicConfigs, RN_TCFG__COUNT);
  if (!res->Configs) return;
  res->Configs_count = RN_TCFG__COUNT;
  for (int i = 0; i < RN_TCFG__COUNT; i++) {
    rn_CreateTopicsResponse_CreatableTopicConfigs *c = &res->Configs[i];
    rn_CreateTopicsResponse_CreatableTopicConfigs_init(c);
    c->Name = rn_str_c(rn_tcfg_defs[i].name);
    /* Copied: tc and the broker's values may change before the response
     * is encoded (other creations in the request, AlterConfigs). */
    const char *v = rn_topic_config_s(tc, &b->cfg, (rn_tcfg_t)i);
    c->Value = v ? rn__arena_msg(req, v) : RN_STR_NULL;
    c->ReadOnly = 0;
    rn__layer_t l[RN__MAX_LAYERS];
    c->ConfigSource = (int8_t)(rn__topic_layers(b, tc, i, l) ? l[0].source : RN_SRC_DEFAULT);
    c->IsSensitive = 0;
  }
}

static void rn__ct_done(rn__ct_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  RN_RESPOND(ctx->req, CreateTopicsResponse, &ctx->resp);
}

static void rn__ct_created(void *arg, rn_topic_t *t, rn_err_t err, const char *msg) {
  rn__ct_one_t *one = arg;
  rn__ct_ctx_t *ctx = one->ctx;
  rn_CreateTopicsResponse_CreatableTopicResult *res = &ctx->resp.Topics[one->index];
  if (err) {
    res->ErrorCode = rn_err_kafka(err);
    res->ErrorMessage = rn_str_c(msg); /* static strings only */
  } else {
    res->TopicId = t->id;
    res->NumPartitions = t->nparts;
    res->ReplicationFactor = 1;
    if (ctx->req->api_version >= 5) rn__ct_fill_configs(ctx->req, res, &t->cfg);
  }
  rn__ct_done(ctx);
}

static rn_str_t rn__arena_msg(rn_req_t *req, const char *msg) {
  size_t n = strlen(msg);
  char *p = rn_arena_memdup(&req->arena, msg, n + 1);
  return p ? (rn_str_t){(const uint8_t *)p, (int32_t)n} : RN_STR_NULL;
}

static char *rn__arena_cstr(rn_req_t *req, rn_str_t s) {
  if (s.len < 0) return NULL;
  char *p = rn_arena_alloc(&req->arena, (size_t)s.len + 1);
  if (p) memcpy(p, s.ptr, (size_t)s.len);
  return p;
}

void rn_api_CreateTopics(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_CreateTopicsRequest r;
  rn_CreateTopicsRequest_init(&r);
  rn__ct_ctx_t *ctx = RN_ALLOC(req, rn__ct_ctx_t, 1);
  if (!ctx || rn_CreateTopicsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed CreateTopics request");
    return;
  }
  ctx->req = req;
  rn_CreateTopicsResponse_init(&ctx->resp);
  int32_t n = r.Topics_count > 0 ? r.Topics_count : 0;
  ctx->resp.Topics = RN_ALLOC(req, rn_CreateTopicsResponse_CreatableTopicResult, n + 1);
  if (!ctx->resp.Topics) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->resp.Topics_count = n;
  ctx->pending = 1;
  for (int32_t i = 0; i < n; i++) {
    rn_CreateTopicsRequest_CreatableTopic *ct = &r.Topics[i];
    rn_CreateTopicsResponse_CreatableTopicResult *res = &ctx->resp.Topics[i];
    rn_CreateTopicsResponse_CreatableTopicResult_init(res);
    res->Name = ct->Name;
    char why[512] = "";
    rn_err_t err = 0;
    int32_t nparts = ct->NumPartitions;
    for (int32_t j = 0; j < n && !err; j++)
      if (j != i && r.Topics[j].Name.len == ct->Name.len && ct->Name.len >= 0 &&
          memcmp(r.Topics[j].Name.ptr, ct->Name.ptr, (size_t)ct->Name.len) == 0) {
        err = RN_ERR_INVALID_REQUEST;
        snprintf(why, sizeof why, "Create topics request from client contains duplicate topic names.");
      }
    if (!err && ct->Assignments_count > 0) {
      if (nparts != -1 || ct->ReplicationFactor != -1) {
        err = RN_ERR_INVALID_REQUEST;
        snprintf(why, sizeof why, "Both numPartitions or replicationFactor and replicasAssignments were set.");
      }
      nparts = ct->Assignments_count;
      for (int32_t j = 0; j < ct->Assignments_count && !err; j++) {
        rn_CreateTopicsRequest_CreatableReplicaAssignment *a = &ct->Assignments[j];
        int ok = a->PartitionIndex >= 0 && a->PartitionIndex < nparts && a->BrokerIds_count == 1 &&
                 a->BrokerIds[0] == b->node_id;
        if (!ok) {
          err = RN_ERR_INVALID_REPLICA_ASSIGNMENT;
          snprintf(why, sizeof why, "Replica assignment must place each partition on broker %d only.",
                   b->node_id);
        }
      }
    } else if (!err && ct->ReplicationFactor != -1 && ct->ReplicationFactor != 1) {
      err = RN_ERR_INVALID_REPLICATION_FACTOR;
      snprintf(why, sizeof why, "Replication factor: %d larger than available brokers: 1.",
               ct->ReplicationFactor);
    }
    if (nparts == -1) nparts = (int32_t)rn_config_i(&b->cfg, RN_BCFG_NUM_PARTITIONS);
    rn_topic_config_t tc = {0};
    for (int32_t j = 0; j < ct->Configs_count && !err; j++) {
      char *k = rn__arena_cstr(req, ct->Configs[j].Name);
      char *v = rn__arena_cstr(req, ct->Configs[j].Value);
      if (!k) continue;
      err = rn_topic_config_set(&tc, k, v, why, sizeof why);
      if (err == RN_ERR__BAD_CONFIG) {
        err = RN_ERR_INVALID_CONFIG;
        snprintf(why, sizeof why, "Unknown topic config name: %s", k);
      } else if (err) {
        err = RN_ERR_INVALID_CONFIG;
      }
    }
    if (!err) err = rn__create_check(b, ct->Name, nparts, why, sizeof why);
    if (!err && !r.validateOnly) {
      rn__ct_one_t *one = RN_ALLOC(req, rn__ct_one_t, 1);
      if (!one) err = -ENOMEM;
      else {
        one->ctx = ctx;
        one->index = i;
        err = rn_admin_create_topic(b, ct->Name, nparts, &tc, rn__ct_created, one, why, sizeof why);
        if (!err) ctx->pending++;
      }
    } else if (!err) {
      /* validateOnly: describe what would be created. */
      res->NumPartitions = nparts;
      res->ReplicationFactor = 1;
      if (req->api_version >= 5) rn__ct_fill_configs(req, res, &tc);
    }
    rn_topic_config_free(&tc);
    if (err) {
      res->ErrorCode = rn_err_kafka(err);
      res->ErrorMessage = rn__arena_msg(req, why);
    }
  }
  rn__ct_done(ctx);
}

/* ---- DeleteTopics ------------------------------------------------------------ */

typedef struct rn__dt_ctx {
  rn_req_t *req;
  rn_DeleteTopicsResponse resp;
  int pending;
} rn__dt_ctx_t;

typedef struct rn__dt_one {
  rn__dt_ctx_t *ctx;
  rn_topic_t *t;
  int32_t index;
} rn__dt_one_t;

static void rn__dt_done(rn__dt_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  RN_RESPOND(ctx->req, DeleteTopicsResponse, &ctx->resp);
}

static void rn__dt_files_gone(void *arg) {
  rn__dt_one_t *one = arg;
  rn__dt_done(one->ctx);
}

static void rn__dt_durable(void *arg, rn_err_t err) {
  rn__dt_one_t *one = arg;
  rn__dt_ctx_t *ctx = one->ctx;
  if (err) {
    one->t->state = RN_TOPIC_LIVE;
    ctx->resp.Responses[one->index].ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
    rn__dt_done(ctx);
    return;
  }
  RN_INFO("deleted topic %s", one->t->name);
  rn_topic_delete(ctx->req->conn->b, one->t, rn__dt_files_gone, one);
}

void rn_api_DeleteTopics(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DeleteTopicsRequest r;
  rn_DeleteTopicsRequest_init(&r);
  rn__dt_ctx_t *ctx = RN_ALLOC(req, rn__dt_ctx_t, 1);
  if (!ctx || rn_DeleteTopicsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DeleteTopics request");
    return;
  }
  ctx->req = req;
  rn_DeleteTopicsResponse_init(&ctx->resp);
  int v6 = req->api_version >= 6;
  int32_t n = v6 ? r.Topics_count : r.TopicNames_count;
  if (n < 0) n = 0;
  ctx->resp.Responses = RN_ALLOC(req, rn_DeleteTopicsResponse_DeletableTopicResult, n + 1);
  if (!ctx->resp.Responses) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->resp.Responses_count = n;
  ctx->pending = 1;
  for (int32_t i = 0; i < n; i++) {
    rn_DeleteTopicsResponse_DeletableTopicResult *res = &ctx->resp.Responses[i];
    rn_DeleteTopicsResponse_DeletableTopicResult_init(res);
    rn_topic_t *t;
    if (v6) {
      res->Name = r.Topics[i].Name;
      res->TopicId = r.Topics[i].TopicId;
      t = r.Topics[i].Name.len >= 0 ? rn_topic_find(b, r.Topics[i].Name)
                                     : rn_topic_find_id(b, r.Topics[i].TopicId);
      if (!t) {
        res->ErrorCode = r.Topics[i].Name.len >= 0 ? RN_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                                   : RN_ERR_UNKNOWN_TOPIC_ID;
        continue;
      }
      /* The topic (and its name) is freed before the response is sent. */
      res->Name = rn__arena_msg(req, t->name);
      res->TopicId = t->id;
    } else {
      res->Name = r.TopicNames[i];
      t = rn_topic_find(b, r.TopicNames[i]);
      if (!t) {
        res->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
    }
    if (!rn_config_i(&b->cfg, RN_BCFG_DELETE_TOPIC_ENABLE)) {
      res->ErrorCode = RN_ERR_TOPIC_DELETION_DISABLED;
      continue;
    }
    rn__dt_one_t *one = RN_ALLOC(req, rn__dt_one_t, 1);
    if (!one) {
      res->ErrorCode = RN_ERR_UNKNOWN_SERVER_ERROR;
      continue;
    }
    one->ctx = ctx;
    one->t = t;
    one->index = i;
    /* Invisible from now on; a failed metadata write makes it live again. */
    t->state = RN_TOPIC_DELETING;
    rn_err_t err = rn_meta_topic_deleted(b, t, rn__dt_durable, one);
    if (err) {
      t->state = RN_TOPIC_LIVE;
      res->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
      continue;
    }
    ctx->pending++;
  }
  rn__dt_done(ctx);
}

/* ---- DescribeConfigs -------------------------------------------------------- */

enum { RN_RES_TOPIC = 2, RN_RES_BROKER = 4, RN_RES_BROKER_LOGGER = 8 };

static int rn__key_wanted(const rn_DescribeConfigsRequest_DescribeConfigsResource *res,
                          const char *name) {
  if (res->ConfigurationKeys_count < 0) return 1;
  for (int32_t i = 0; i < res->ConfigurationKeys_count; i++)
    if (rn_str_eq(res->ConfigurationKeys[i], name)) return 1;
  return 0;
}

typedef rn_DescribeConfigsResponse_DescribeConfigsResourceResult rn__dc_entry_t;
typedef rn_DescribeConfigsResponse_DescribeConfigsSynonym rn__dc_syn_t;

/*
 * One config entry: its value and source come from the first layer (the
 * built-in default when there is none), the synonyms (v1+, when asked)
 * list every layer in order of precedence, as Kafka does.
 */
static void rn__dc_entry(rn_req_t *req, const rn_DescribeConfigsRequest *r, rn__dc_entry_t *e,
                         const rn_cfg_def_t *def, const char *value, const rn__layer_t *l, int n) {
  rn_DescribeConfigsResponse_DescribeConfigsResourceResult_init(e);
  int source = n ? l[0].source : RN_SRC_DEFAULT;
  e->Name = rn_str_c(def->name);
  int sensitive = def->flags & RN_CFG_SENSITIVE;
  e->Value = sensitive ? RN_STR_NULL : rn_str_c(value);
  e->ReadOnly = (def->flags & RN_CFG_READ_ONLY) != 0;
  e->IsDefault = source == RN_SRC_DEFAULT;
  e->ConfigSource = (int8_t)source;
  e->IsSensitive = sensitive != 0;
  e->ConfigType = (int8_t)def->type;
  if (r->IncludeDocumentation) e->Documentation = rn_str_c(def->doc);
  if (r->IncludeSynonyms) {
    rn__dc_syn_t *s = RN_ALLOC(req, rn__dc_syn_t, n + 1);
    if (!s) return;
    for (int i = 0; i < n; i++) {
      rn_DescribeConfigsResponse_DescribeConfigsSynonym_init(&s[i]);
      s[i].Name = rn_str_c(l[i].name);
      s[i].Value = sensitive ? RN_STR_NULL : rn_str_c(l[i].value);
      s[i].Source = (int8_t)l[i].source;
    }
    e->Synonyms = s;
    e->Synonyms_count = n;
  }
}

void rn_api_DescribeConfigs(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_DescribeConfigsRequest r;
  rn_DescribeConfigsRequest_init(&r);
  if (rn_DescribeConfigsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeConfigs request");
    return;
  }
  rn_DescribeConfigsResponse resp;
  rn_DescribeConfigsResponse_init(&resp);
  int32_t n = r.Resources_count > 0 ? r.Resources_count : 0;
  resp.Results = RN_ALLOC(req, rn_DescribeConfigsResponse_DescribeConfigsResult, n + 1);
  if (!resp.Results) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  resp.Results_count = n;
  rn__layer_t l[RN__MAX_LAYERS];
  for (int32_t i = 0; i < n; i++) {
    rn_DescribeConfigsRequest_DescribeConfigsResource *res = &r.Resources[i];
    rn_DescribeConfigsResponse_DescribeConfigsResult *out = &resp.Results[i];
    rn_DescribeConfigsResponse_DescribeConfigsResult_init(out);
    out->ResourceType = res->ResourceType;
    out->ResourceName = res->ResourceName;
    out->Configs_count = 0;
    if (res->ResourceType == RN_RES_TOPIC) {
      rn_topic_t *t = rn_topic_find(b, res->ResourceName);
      if (!t) {
        out->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->ErrorMessage = rn_str_c("This server does not host this topic.");
        continue;
      }
      out->Configs = RN_ALLOC(req, rn__dc_entry_t, RN_TCFG__COUNT);
      if (!out->Configs) continue;
      for (int k = 0; k < RN_TCFG__COUNT; k++) {
        const rn_cfg_def_t *def = &rn_tcfg_defs[k];
        if (!rn__key_wanted(res, def->name)) continue;
        int nl = rn__topic_layers(b, &t->cfg, k, l);
        rn__dc_entry(req, &r, &out->Configs[out->Configs_count++], def,
                     rn_topic_config_s(&t->cfg, &b->cfg, (rn_tcfg_t)k), l, nl);
      }
    } else if (res->ResourceType == RN_RES_BROKER) {
      char self[16];
      snprintf(self, sizeof self, "%d", b->node_id);
      int per_broker = res->ResourceName.len > 0;
      if (per_broker && !rn_str_eq(res->ResourceName, self)) {
        char why[160];
        snprintf(why, sizeof why, "Unexpected broker id, expected %d or empty string, but received %.*s",
                 b->node_id, (int)res->ResourceName.len, (const char *)res->ResourceName.ptr);
        out->ErrorCode = RN_ERR_INVALID_REQUEST;
        out->ErrorMessage = rn__arena_msg(req, why);
        continue;
      }
      out->Configs = RN_ALLOC(req, rn__dc_entry_t, RN_BCFG__COUNT);
      if (!out->Configs) continue;
      for (int k = 0; k < RN_BCFG__COUNT; k++) {
        const rn_cfg_def_t *def = &rn_bcfg_defs[k];
        if (!rn__key_wanted(res, def->name)) continue;
        if (per_broker) {
          int nl = rn__broker_layers(b, k, 1, l, 0);
          rn__dc_entry(req, &r, &out->Configs[out->Configs_count++], def, b->cfg.v[k].str, l, nl);
        } else {
          /* The cluster-wide default resource lists only the dynamic
           * defaults that are set (Kafka's currentDynamicDefaultConfigs). */
          const char *v = rn_dyncfg_value(b, 0, k);
          if (!v) continue;
          int nl = rn__broker_layers(b, k, 0, l, 0);
          rn__dc_entry(req, &r, &out->Configs[out->Configs_count++], def, v, l, nl);
        }
      }
    } else {
      out->ErrorCode = RN_ERR_INVALID_REQUEST;
      out->ErrorMessage = rn_str_c("Unsupported resource type.");
    }
  }
  RN_RESPOND(req, DescribeConfigsResponse, &resp);
}
