/*
 * api.c: request header parsing, the dispatch table and ApiVersions.
 *
 * The table lists, per API key, the contiguous version range runnel
 * advertises and implements (DESIGN §4, kafka-protocol/README §7.4) and its
 * handler. A request for an unknown API key or an unsupported version closes
 * the connection, as Kafka does; ApiVersions instead answers a too-new
 * version with a v0-format UNSUPPORTED_VERSION body listing its own range so
 * that the client can retry lower (KIP-511).
 */
#include <string.h>

#include "runnel.h"

static const rn_api_entry_t rn__api_table[RN_API_KEY_MAX] = {
    [RN_API_Produce] = {0, 11, rn_api_Produce},
    [RN_API_Fetch] = {4, 16, rn_api_Fetch},
    [RN_API_ListOffsets] = {0, 8, rn_api_ListOffsets},
    [RN_API_Metadata] = {0, 12, rn_api_Metadata},
    [RN_API_OffsetCommit] = {0, 9, rn_api_OffsetCommit},
    [RN_API_OffsetFetch] = {0, 9, rn_api_OffsetFetch},
    [RN_API_FindCoordinator] = {0, 5, rn_api_FindCoordinator},
    [RN_API_JoinGroup] = {0, 9, rn_api_JoinGroup},
    [RN_API_Heartbeat] = {0, 4, rn_api_Heartbeat},
    [RN_API_LeaveGroup] = {0, 5, rn_api_LeaveGroup},
    [RN_API_SyncGroup] = {0, 5, rn_api_SyncGroup},
    [RN_API_DescribeGroups] = {0, 5, rn_api_DescribeGroups},
    [RN_API_ListGroups] = {0, 5, rn_api_ListGroups},
    [RN_API_ApiVersions] = {0, 3, rn_api_ApiVersions},
    [RN_API_CreateTopics] = {0, 7, rn_api_CreateTopics},
    [RN_API_DeleteTopics] = {0, 6, rn_api_DeleteTopics},
    [RN_API_DescribeConfigs] = {0, 4, rn_api_DescribeConfigs},
    [RN_API_DeleteGroups] = {0, 2, rn_api_DeleteGroups},
    [RN_API_OffsetDelete] = {0, 0, rn_api_OffsetDelete},
    [RN_API_DeleteRecords] = {0, 2, rn_api_DeleteRecords},
    [RN_API_OffsetForLeaderEpoch] = {0, 4, rn_api_OffsetForLeaderEpoch},
    [RN_API_AlterConfigs] = {0, 2, rn_api_AlterConfigs},
    [RN_API_DescribeLogDirs] = {0, 4, rn_api_DescribeLogDirs},
    [RN_API_CreatePartitions] = {0, 3, rn_api_CreatePartitions},
    [RN_API_IncrementalAlterConfigs] = {0, 1, rn_api_IncrementalAlterConfigs},
    [RN_API_DescribeCluster] = {0, 1, rn_api_DescribeCluster},
    [RN_API_DescribeTopicPartitions] = {0, 0, rn_api_DescribeTopicPartitions},
    [RN_API_InitProducerId] = {0, 5, rn_api_InitProducerId},
    /* ---- transactions ---- */
    [RN_API_AddPartitionsToTxn] = {0, 4, rn_api_AddPartitionsToTxn},
    [RN_API_AddOffsetsToTxn] = {0, 3, rn_api_AddOffsetsToTxn},
    [RN_API_EndTxn] = {0, 3, rn_api_EndTxn},
    [RN_API_TxnOffsetCommit] = {0, 3, rn_api_TxnOffsetCommit},
    [RN_API_DescribeProducers] = {0, 0, rn_api_DescribeProducers},
    [RN_API_DescribeTransactions] = {0, 0, rn_api_DescribeTransactions},
    [RN_API_ListTransactions] = {0, 1, rn_api_ListTransactions},
    /* ---- end transactions ---- */
};

const rn_api_entry_t *rn_api_entry(int16_t api_key) {
  if (api_key < 0 || api_key >= RN_API_KEY_MAX || !rn__api_table[api_key].handler)
    return NULL;
  return &rn__api_table[api_key];
}

/* Fills an ApiVersions response body with every supported API. */
static rn_err_t rn__fill_api_keys(rn_req_t *req, rn_ApiVersionsResponse *resp) {
  int n = 0;
  for (int k = 0; k < RN_API_KEY_MAX; k++)
    if (rn__api_table[k].handler) n++;
  resp->ApiKeys = RN_ALLOC(req, rn_ApiVersionsResponse_ApiVersion, n);
  if (!resp->ApiKeys) return -ENOMEM;
  resp->ApiKeys_count = n;
  int i = 0;
  for (int k = 0; k < RN_API_KEY_MAX; k++) {
    if (!rn__api_table[k].handler) continue;
    rn_ApiVersionsResponse_ApiVersion *e = &resp->ApiKeys[i++];
    rn_ApiVersionsResponse_ApiVersion_init(e);
    e->ApiKey = (int16_t)k;
    e->MinVersion = rn__api_table[k].min_version;
    e->MaxVersion = rn__api_table[k].max_version;
  }
  return 0;
}

/* KIP-511: ClientSoftwareName/Version must match
 * [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? */
static int rn__software_field_ok(rn_str_t s) {
  if (s.len <= 0) return 0;
  for (int32_t i = 0; i < s.len; i++) {
    uint8_t c = s.ptr[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    int inner = c == '-' || c == '.';
    if (!alnum && (!inner || i == 0 || i == s.len - 1)) return 0;
  }
  return 1;
}

void rn_api_ApiVersions(rn_req_t *req) {
  rn_ApiVersionsRequest r;
  rn_ApiVersionsRequest_init(&r);
  if (rn_ApiVersionsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed ApiVersions request");
    return;
  }
  rn_ApiVersionsResponse resp;
  rn_ApiVersionsResponse_init(&resp);
  if (rn__fill_api_keys(req, &resp)) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  if (req->api_version >= 3 &&
      (!rn__software_field_ok(r.ClientSoftwareName) ||
       !rn__software_field_ok(r.ClientSoftwareVersion)))
    resp.ErrorCode = RN_ERR_INVALID_REQUEST;
  RN_RESPOND(req, ApiVersionsResponse, &resp);
}

/* ApiVersions with a version above ours: v0 body, header v0, error 35. */
static void rn__api_versions_unsupported(rn_req_t *req) {
  rn_ApiVersionsResponse resp;
  rn_ApiVersionsResponse_init(&resp);
  resp.ErrorCode = RN_ERR_UNSUPPORTED_VERSION;
  if (rn__fill_api_keys(req, &resp)) {
    rn_req_protocol_error(req, "out of memory");
    return;
  }
  req->api_version = 0;
  RN_RESPOND(req, ApiVersionsResponse, &resp);
}

void rn_api_dispatch(rn_req_t *req) {
  const uint8_t *f = req->frame;
  req->api_key = (int16_t)rn_be16(f);
  req->api_version = (int16_t)rn_be16(f + 2);
  req->correlation_id = (int32_t)rn_be32(f + 4);
  const rn_api_entry_t *e = rn_api_entry(req->api_key);
  const rn_api_spec_t *spec = rn_api_spec(req->api_key);
  if (!e || !spec) {
    rn_req_protocol_error(req, "unsupported API key");
    return;
  }
  int too_new = req->api_version > e->max_version;
  if (req->api_key == RN_API_ApiVersions && too_new) {
    /* The body of a future version is unknown to us: not parsed at all. */
    rn__api_versions_unsupported(req);
    return;
  }
  if (req->api_version < e->min_version || too_new) {
    rn_req_protocol_error(req, "unsupported API version");
    return;
  }
  rn_rd_init(&req->body, req->frame, req->frame_len);
  rn_RequestHeader hdr;
  rn_RequestHeader_init(&hdr);
  int16_t hv = rn_request_header_version(req->api_key, req->api_version);
  if (rn_RequestHeader_decode(&req->body, &req->arena, hv, &hdr)) {
    rn_req_protocol_error(req, "malformed request header");
    return;
  }
  req->client_id = hdr.ClientId.len < 0 ? RN_STR_EMPTY : hdr.ClientId;
  RN_DEBUG("%s: %s v%d correlation id %d", req->conn->peer, spec->name, req->api_version,
           req->correlation_id);
  e->handler(req);
}
