/*
 * api_group.c: JoinGroup (0-9), SyncGroup (0-5), Heartbeat (0-4),
 * LeaveGroup (0-5), DescribeGroups (0-5), ListGroups (0-5) and
 * DeleteGroups (0-2).
 *
 * Each handler decodes the request, calls the coordinator (group.h) and
 * encodes what it answers. JoinGroup and SyncGroup may be parked by the
 * coordinator until a rebalance completes; their response is encoded in
 * the coordinator's callback, while the views it hands over are valid.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "group.h"
#include "runnel.h"

/* Group ACL operations when no authorizer runs: READ, DELETE, DESCRIBE. */
#define RN_GROUP_OPS ((1 << 3) | (1 << 6) | (1 << 8))

/* Kafka's clientHost: "/" + the peer address without the port. */
static const char *rn__client_host(const rn_req_t *req, char *buf, size_t n) {
  const char *peer = req->conn->peer;
  const char *colon = strrchr(peer, ':');
  int len = colon ? (int)(colon - peer) : (int)strlen(peer);
  snprintf(buf, n, "/%.*s", len, peer);
  return buf;
}

/* ---- JoinGroup --------------------------------------------------------------- */

static void rn__join_done(void *arg, const rn_join_result_t *res) {
  rn_req_t *req = arg;
  rn_JoinGroupResponse resp;
  rn_JoinGroupResponse_init(&resp);
  resp.ErrorCode = res->error;
  resp.GenerationId = res->generation;
  resp.ProtocolType = res->protocol_type;
  resp.ProtocolName = res->protocol_name;
  resp.Leader = res->leader;
  resp.SkipAssignment = res->skip_assignment != 0;
  resp.MemberId = res->member_id;
  resp.Members_count = 0;
  if (res->nmembers > 0) {
    resp.Members = RN_ALLOC(req, rn_JoinGroupResponse_JoinGroupResponseMember, res->nmembers);
    if (!resp.Members) {
      rn_req_protocol_error(req, "out of memory building JoinGroup response");
      return;
    }
    for (int32_t i = 0; i < res->nmembers; i++) {
      rn_JoinGroupResponse_JoinGroupResponseMember *m = &resp.Members[i];
      rn_JoinGroupResponse_JoinGroupResponseMember_init(m);
      m->MemberId = res->members[i].member_id;
      m->GroupInstanceId = res->members[i].instance_id;
      m->Metadata = res->members[i].metadata;
    }
    resp.Members_count = res->nmembers;
  }
  RN_RESPOND(req, JoinGroupResponse, &resp);
}

void rn_api_JoinGroup(rn_req_t *req) {
  rn_JoinGroupRequest r;
  rn_JoinGroupRequest_init(&r);
  if (rn_JoinGroupRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed JoinGroup request");
    return;
  }
  char host[80];
  rn_join_params_t p;
  memset(&p, 0, sizeof p);
  p.group_id = r.GroupId;
  p.member_id = r.MemberId.len < 0 ? RN_STR_EMPTY : r.MemberId;
  p.instance_id = r.GroupInstanceId;
  p.protocol_type = r.ProtocolType;
  p.reason = r.Reason;
  p.session_timeout_ms = r.SessionTimeoutMs;
  p.rebalance_timeout_ms = r.RebalanceTimeoutMs;
  p.nprotocols = r.Protocols_count > 0 ? r.Protocols_count : 0;
  p.protocols = r.Protocols;
  p.client_id = req->client_id;
  p.client_host = rn__client_host(req, host, sizeof host);
  /* KIP-394 and KIP-814 are behaviours of these request versions. */
  p.require_known_member_id = req->api_version >= 4;
  p.supports_skip_assignment = req->api_version >= 9;
  rn_group_join(req->conn->b->groups, &p, rn__join_done, req);
}

/* ---- SyncGroup --------------------------------------------------------------- */

static void rn__sync_done(void *arg, const rn_sync_result_t *res) {
  rn_req_t *req = arg;
  rn_SyncGroupResponse resp;
  rn_SyncGroupResponse_init(&resp);
  resp.ErrorCode = res->error;
  resp.ProtocolType = res->protocol_type;
  resp.ProtocolName = res->protocol_name;
  resp.Assignment = res->assignment;
  RN_RESPOND(req, SyncGroupResponse, &resp);
}

void rn_api_SyncGroup(rn_req_t *req) {
  rn_SyncGroupRequest r;
  rn_SyncGroupRequest_init(&r);
  if (rn_SyncGroupRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed SyncGroup request");
    return;
  }
  rn_sync_params_t p;
  memset(&p, 0, sizeof p);
  p.group_id = r.GroupId;
  p.member_id = r.MemberId;
  p.instance_id = r.GroupInstanceId;
  p.generation = r.GenerationId;
  p.protocol_type = r.ProtocolType;
  p.protocol_name = r.ProtocolName;
  p.nassignments = r.Assignments_count > 0 ? r.Assignments_count : 0;
  p.assignments = r.Assignments;
  rn_group_sync(req->conn->b->groups, &p, rn__sync_done, req);
}

/* ---- Heartbeat --------------------------------------------------------------- */

void rn_api_Heartbeat(rn_req_t *req) {
  rn_HeartbeatRequest r;
  rn_HeartbeatRequest_init(&r);
  if (rn_HeartbeatRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed Heartbeat request");
    return;
  }
  rn_HeartbeatResponse resp;
  rn_HeartbeatResponse_init(&resp);
  resp.ErrorCode = rn_group_heartbeat(req->conn->b->groups, r.GroupId, r.MemberId,
                                      r.GroupInstanceId, r.GenerationId);
  RN_RESPOND(req, HeartbeatResponse, &resp);
}

/* ---- LeaveGroup -------------------------------------------------------------- */

void rn_api_LeaveGroup(rn_req_t *req) {
  rn_LeaveGroupRequest r;
  rn_LeaveGroupRequest_init(&r);
  if (rn_LeaveGroupRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed LeaveGroup request");
    return;
  }
  /* v0-2 name one member; v3+ carry a batch (KIP-345). */
  int batch = req->api_version >= 3;
  rn_LeaveGroupRequest_MemberIdentity one;
  rn_LeaveGroupRequest_MemberIdentity_init(&one);
  one.MemberId = r.MemberId;
  one.GroupInstanceId = RN_STR_NULL;
  one.Reason = RN_STR_NULL;
  const rn_LeaveGroupRequest_MemberIdentity *mem = batch ? r.Members : &one;
  int32_t n = batch ? (r.Members_count > 0 ? r.Members_count : 0) : 1;
  int16_t *errs = RN_ALLOC(req, int16_t, n + 1);
  if (!errs) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  int16_t top = rn_group_leave(req->conn->b->groups, r.GroupId, mem, n, errs);
  rn_LeaveGroupResponse resp;
  rn_LeaveGroupResponse_init(&resp);
  resp.Members_count = 0;
  if (!batch) {
    resp.ErrorCode = top ? top : errs[0];
  } else {
    resp.ErrorCode = top;
    if (!top && n > 0) {
      resp.Members = RN_ALLOC(req, rn_LeaveGroupResponse_MemberResponse, n);
      if (!resp.Members) {
        rn_req_protocol_error(req, "out of memory");
        return;
      }
      for (int32_t i = 0; i < n; i++) {
        rn_LeaveGroupResponse_MemberResponse *m = &resp.Members[i];
        rn_LeaveGroupResponse_MemberResponse_init(m);
        m->MemberId = mem[i].MemberId;
        m->GroupInstanceId = mem[i].GroupInstanceId;
        m->ErrorCode = errs[i];
      }
      resp.Members_count = n;
    }
  }
  RN_RESPOND(req, LeaveGroupResponse, &resp);
}

/* ---- DescribeGroups ---------------------------------------------------------- */

void rn_api_DescribeGroups(rn_req_t *req) {
  rn_DescribeGroupsRequest r;
  rn_DescribeGroupsRequest_init(&r);
  if (rn_DescribeGroupsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DescribeGroups request");
    return;
  }
  rn_groups_t *gs = req->conn->b->groups;
  rn_DescribeGroupsResponse resp;
  rn_DescribeGroupsResponse_init(&resp);
  int32_t n = r.Groups_count > 0 ? r.Groups_count : 0;
  resp.Groups = RN_ALLOC(req, rn_DescribeGroupsResponse_DescribedGroup, n + 1);
  if (!resp.Groups) goto oom;
  resp.Groups_count = n;
  for (int32_t i = 0; i < n; i++) {
    rn_DescribeGroupsResponse_DescribedGroup *d = &resp.Groups[i];
    rn_DescribeGroupsResponse_DescribedGroup_init(d);
    d->GroupId = r.Groups[i];
    d->ProtocolType = RN_STR_EMPTY;
    d->ProtocolData = RN_STR_EMPTY;
    d->Members_count = 0;
    if (r.IncludeAuthorizedOperations) d->AuthorizedOperations = RN_GROUP_OPS;
    if (gs->stopping) {
      d->ErrorCode = RN_ERR_NOT_COORDINATOR;
      d->GroupState = RN_STR_EMPTY;
      continue;
    }
    rn_group_t *g = rn_groups_find(gs, r.Groups[i]);
    if (!g) { /* Kafka describes an unknown group as Dead, no error */
      d->GroupState = rn_str_c(rn_group_state_name(RN_GROUP_DEAD));
      continue;
    }
    int stable = g->state == RN_GROUP_STABLE;
    d->GroupState = rn_str_c(rn_group_state_name(g->state));
    if (g->protocol_type) d->ProtocolType = rn_str_c(g->protocol_type);
    if (stable && g->protocol_name) d->ProtocolData = rn_str_c(g->protocol_name);
    if (g->nmembers == 0) continue;
    d->Members = RN_ALLOC(req, rn_DescribeGroupsResponse_DescribedGroupMember, g->nmembers);
    if (!d->Members) goto oom;
    int32_t k = 0;
    for (rn_member_t *m = g->members.next; m != &g->members; m = m->next, k++) {
      rn_DescribeGroupsResponse_DescribedGroupMember *dm = &d->Members[k];
      rn_DescribeGroupsResponse_DescribedGroupMember_init(dm);
      dm->MemberId = rn_str_c(m->id);
      dm->GroupInstanceId = rn_str_c(m->instance_id);
      dm->ClientId = rn_str_c(m->client_id);
      dm->ClientHost = rn_str_c(m->client_host);
      /* Metadata and assignment only describe a Stable group (Kafka). */
      dm->MemberMetadata = stable ? rn_member_metadata(m, g->protocol_name) : RN_STR_EMPTY;
      dm->MemberAssignment =
          stable && m->assignment ? (rn_bytes_t){m->assignment, m->assignment_len} : RN_STR_EMPTY;
    }
    d->Members_count = k;
  }
  RN_RESPOND(req, DescribeGroupsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building DescribeGroups response");
}

/* ---- ListGroups -------------------------------------------------------------- */

typedef struct rn__lg {
  rn_req_t *req;
  const rn_ListGroupsRequest *r;
  rn_ListGroupsResponse *resp;
} rn__lg_t;

static int rn__lg_state_ok(const rn_ListGroupsRequest *r, int state) {
  if (r->StatesFilter_count <= 0) return 1;
  for (int32_t i = 0; i < r->StatesFilter_count; i++)
    if (rn_group_state_parse(r->StatesFilter[i]) == state) return 1;
  return 0;
}

static int rn__lg_type_ok(const rn_ListGroupsRequest *r) {
  if (r->TypesFilter_count <= 0) return 1;
  for (int32_t i = 0; i < r->TypesFilter_count; i++) {
    rn_str_t t = r->TypesFilter[i];
    if (t.len == 7 && strncasecmp((const char *)t.ptr, "classic", 7) == 0) return 1;
  }
  return 0;
}

static void rn__lg_add(rn_group_t *g, void *arg) {
  rn__lg_t *a = arg;
  if (!rn__lg_state_ok(a->r, g->state) || !rn__lg_type_ok(a->r)) return;
  rn_ListGroupsResponse_ListedGroup *l = &a->resp->Groups[a->resp->Groups_count++];
  rn_ListGroupsResponse_ListedGroup_init(l);
  l->GroupId = (rn_str_t){(const uint8_t *)g->id, g->id_len};
  l->ProtocolType = rn_str_c(g->protocol_type ? g->protocol_type : "");
  l->GroupState = rn_str_c(rn_group_state_name(g->state));
  l->GroupType = rn_str_c("classic");
}

void rn_api_ListGroups(rn_req_t *req) {
  rn_ListGroupsRequest r;
  rn_ListGroupsRequest_init(&r);
  if (rn_ListGroupsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed ListGroups request");
    return;
  }
  rn_groups_t *gs = req->conn->b->groups;
  rn_ListGroupsResponse resp;
  rn_ListGroupsResponse_init(&resp);
  resp.Groups_count = 0;
  if (gs->stopping) {
    resp.ErrorCode = RN_ERR_NOT_COORDINATOR;
  } else {
    resp.Groups = RN_ALLOC(req, rn_ListGroupsResponse_ListedGroup, gs->ngroups + 1);
    if (!resp.Groups) {
      rn_req_protocol_error(req, "out of memory building ListGroups response");
      return;
    }
    rn__lg_t a = {req, &r, &resp};
    rn_groups_foreach(gs, rn__lg_add, &a);
  }
  RN_RESPOND(req, ListGroupsResponse, &resp);
}

/* ---- DeleteGroups ------------------------------------------------------------ */

typedef struct rn__dg_ctx {
  rn_req_t *req;
  rn_DeleteGroupsResponse resp;
  int pending;
} rn__dg_ctx_t;

typedef struct rn__dg_one {
  rn__dg_ctx_t *ctx;
  int32_t index;
} rn__dg_one_t;

static void rn__dg_done(rn__dg_ctx_t *ctx) {
  if (--ctx->pending > 0) return;
  RN_RESPOND(ctx->req, DeleteGroupsResponse, &ctx->resp);
}

static void rn__dg_one_done(void *arg, int16_t err) {
  rn__dg_one_t *one = arg;
  one->ctx->resp.Results[one->index].ErrorCode = err;
  rn__dg_done(one->ctx);
}

void rn_api_DeleteGroups(rn_req_t *req) {
  rn_DeleteGroupsRequest r;
  rn_DeleteGroupsRequest_init(&r);
  rn__dg_ctx_t *ctx = RN_ALLOC(req, rn__dg_ctx_t, 1);
  if (!ctx || rn_DeleteGroupsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed DeleteGroups request");
    return;
  }
  ctx->req = req;
  rn_DeleteGroupsResponse_init(&ctx->resp);
  int32_t n = r.GroupsNames_count > 0 ? r.GroupsNames_count : 0;
  ctx->resp.Results = RN_ALLOC(req, rn_DeleteGroupsResponse_DeletableGroupResult, n + 1);
  rn__dg_one_t *ones = RN_ALLOC(req, rn__dg_one_t, n + 1);
  if (!ctx->resp.Results || !ones) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  ctx->resp.Results_count = n;
  ctx->pending = 1 + n;
  for (int32_t i = 0; i < n; i++) {
    rn_DeleteGroupsResponse_DeletableGroupResult_init(&ctx->resp.Results[i]);
    ctx->resp.Results[i].GroupId = r.GroupsNames[i];
    ones[i].ctx = ctx;
    ones[i].index = i;
  }
  for (int32_t i = 0; i < n; i++)
    rn_groups_delete(req->conn->b->groups, r.GroupsNames[i], rn__dg_one_done, &ones[i]);
  rn__dg_done(ctx);
}
