/*
 * api_offsets.c: ListOffsets (0-8).
 *
 * Special timestamps (ListOffsets spec, KIP-734, KIP-405):
 *   -1 LATEST: the high watermark (read_uncommitted) or the last stable
 *      offset (read_committed, v2+: the first offset of the earliest open
 *      transaction, else the high watermark; producer_state.h)
 *   -2 EARLIEST and -4 EARLIEST_LOCAL: the log start offset
 *   -3 MAX_TIMESTAMP (v7+): the record with the largest timestamp
 * A timestamp >= 0 finds the first record whose timestamp is at least it
 * (time index, then a record scan); none gives offset -1, timestamp -1.
 * v0 answers with OldStyleOffsets = [offset].
 */
#include "producer_state.h"
#include "runnel.h"

#define RN_TS_LATEST -1
#define RN_TS_EARLIEST -2
#define RN_TS_MAX_TIMESTAMP -3
#define RN_TS_EARLIEST_LOCAL -4

void rn_api_ListOffsets(rn_req_t *req) {
  rn_broker_t *b = req->conn->b;
  rn_ListOffsetsRequest r;
  rn_ListOffsetsRequest_init(&r);
  if (rn_ListOffsetsRequest_decode(&req->body, &req->arena, req->api_version, &r)) {
    rn_req_protocol_error(req, "malformed ListOffsets request");
    return;
  }
  rn_ListOffsetsResponse resp;
  rn_ListOffsetsResponse_init(&resp);
  int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
  resp.Topics = RN_ALLOC(req, rn_ListOffsetsResponse_ListOffsetsTopicResponse, nt + 1);
  if (!resp.Topics) goto oom;
  resp.Topics_count = nt;
  for (int32_t i = 0; i < nt; i++) {
    rn_ListOffsetsRequest_ListOffsetsTopic *lt = &r.Topics[i];
    rn_ListOffsetsResponse_ListOffsetsTopicResponse *tr = &resp.Topics[i];
    rn_ListOffsetsResponse_ListOffsetsTopicResponse_init(tr);
    tr->Name = lt->Name;
    int32_t np = lt->Partitions_count > 0 ? lt->Partitions_count : 0;
    tr->Partitions = RN_ALLOC(req, rn_ListOffsetsResponse_ListOffsetsPartitionResponse, np + 1);
    int64_t *old = RN_ALLOC(req, int64_t, np + 1);
    if (!tr->Partitions || !old) goto oom;
    tr->Partitions_count = np;
    rn_topic_t *t = rn_topic_find(b, lt->Name);
    for (int32_t j = 0; j < np; j++) {
      rn_ListOffsetsRequest_ListOffsetsPartition *lp = &lt->Partitions[j];
      rn_ListOffsetsResponse_ListOffsetsPartitionResponse *pr = &tr->Partitions[j];
      rn_ListOffsetsResponse_ListOffsetsPartitionResponse_init(pr);
      pr->PartitionIndex = lp->PartitionIndex;
      pr->OldStyleOffsets_count = 0;
      rn_partition_t *p = rn_topic_partition(t, lp->PartitionIndex);
      if (!p) {
        pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (rn_log_error(p->log)) {
        pr->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
        continue;
      }
      int64_t off = -1, ts = -1;
      rn_err_t err = 0;
      switch (lp->Timestamp) {
      case RN_TS_LATEST:
        off = rn_log_high_watermark(p->log);
        if (req->api_version >= 2 && r.IsolationLevel == 1) {
          /* read_committed: the last stable offset (KIP-98). */
          rn_pstate_t *ps = rn_pstate_of(p->log, &err);
          if (ps) off = rn_pstate_lso(ps, off);
        }
        break;
      case RN_TS_EARLIEST:
      case RN_TS_EARLIEST_LOCAL:
        off = rn_log_start_offset(p->log);
        break;
      case RN_TS_MAX_TIMESTAMP:
        rn_log_max_timestamp(p->log, &ts, &off);
        break;
      default:
        if (lp->Timestamp < 0) err = RN_ERR_INVALID_REQUEST;
        else err = rn_log_offset_for_time(p->log, lp->Timestamp, &off, &ts);
        break;
      }
      if (err) {
        pr->ErrorCode = rn_err_kafka(err);
        continue;
      }
      pr->Offset = off;
      pr->Timestamp = ts;
      pr->LeaderEpoch = off >= 0 ? 0 : -1;
      if (req->api_version == 0) {
        old[j] = off;
        pr->OldStyleOffsets = &old[j];
        pr->OldStyleOffsets_count = off >= 0 ? 1 : 0;
      }
    }
  }
  RN_RESPOND(req, ListOffsetsResponse, &resp);
  return;
oom:
  rn_req_protocol_error(req, "out of memory building ListOffsets response");
}
