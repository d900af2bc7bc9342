/*
 * group.c: the group coordinator: registry, the classic-protocol state
 * machine and its timers, the committed-offset cache, commit validation
 * and offset expiry. The state diagram and invariants are in group.h.
 *
 * Behaviour follows Apache Kafka's classic group coordinator
 * (GroupCoordinator, 3.x): KIP-62 (rebalance timeout separate from the
 * session timeout), KIP-134 (group.initial.rebalance.delay.ms), KIP-211
 * (offsets of a group expire once it has been Empty for
 * offsets.retention.minutes), KIP-345 (static members), KIP-394
 * (MEMBER_ID_REQUIRED), KIP-814 (SkipAssignment for a static leader).
 * Departures are noted where they occur.
 *
 * Timers: each group has one uv_timer_t armed for its earliest deadline
 * (end of the rebalance, pending-SyncGroup expiry, member sessions). A
 * heartbeat only moves a member's deadline later, so it never re-arms
 * the timer; a timer that fires early finds nothing due and re-arms for
 * the real minimum (rn__group_tick()).
 *
 * Member lookups are linear scans of the group's list: groups have tens
 * of members, and a heartbeat costs one scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "group.h"
#include "runnel.h"

#define RN__MAX_STR 32767 /* the record layouts use int16-length strings */
#define RN__CLIENT_ID_PREFIX_MAX 200

static const char *const rn__state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                              "Stable", "Dead"};

const char *rn_group_state_name(int state) {
  return state >= 0 && state <= RN_GROUP_DEAD ? rn__state_names[state] : "Unknown";
}

int rn_group_state_parse(rn_str_t name) {
  for (int i = 0; i <= RN_GROUP_DEAD; i++)
    if (name.len >= 0 && (size_t)name.len == strlen(rn__state_names[i]) &&
        strncasecmp((const char *)name.ptr, rn__state_names[i], (size_t)name.len) == 0)
      return i;
  return -1;
}

/* ---- small helpers ---------------------------------------------------------- */

rn_err_t rn__strset(char **dst, rn_str_t s) {
  char *c = NULL;
  if (s.len >= 0) {
    c = malloc((size_t)s.len + 1);
    if (!c) return -ENOMEM;
    if (s.len) memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = 0;
  }
  free(*dst);
  *dst = c;
  return 0;
}

/* Whether the C string a (may be NULL) equals the view b (len < 0 = null). */
static int rn__eq(const char *a, rn_str_t b) {
  if (!a || b.len < 0) return !a && b.len < 0;
  size_t n = strlen(a);
  return n == (size_t)b.len && (n == 0 || memcmp(a, b.ptr, n) == 0);
}

static int64_t rn__now(const rn_groups_t *gs) {
  return (int64_t)uv_now(gs->loop);
}

static int64_t rn__cfg(const rn_groups_t *gs, rn_bcfg_t k) {
  return rn_config_i(&gs->b->cfg, k);
}

/* Kafka maps log append failures to coordinator errors the client retries
 * after finding the coordinator again (GroupMetadataManager). */
static int16_t rn__store_error(rn_err_t err) {
  int16_t k = rn_err_kafka(err);
  switch (k) {
    case RN_ERR_NONE:
      return RN_ERR_NONE;
    case RN_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case RN_ERR_NOT_ENOUGH_REPLICAS:
    case RN_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return RN_ERR_COORDINATOR_NOT_AVAILABLE;
    case RN_ERR_NOT_LEADER_OR_FOLLOWER:
    case RN_ERR_KAFKA_STORAGE_ERROR:
      return RN_ERR_NOT_COORDINATOR;
    case RN_ERR_MESSAGE_TOO_LARGE:
    case RN_ERR_RECORD_LIST_TOO_LARGE:
    case RN_ERR_INVALID_FETCH_SIZE:
      return RN_ERR_INVALID_COMMIT_OFFSET_SIZE;
    default:
      return k;
  }
}

static void rn__print_id(char *out, size_t n, const rn_group_t *g) {
  snprintf(out, n, "%.*s", g->id_len > 200 ? 200 : (int)g->id_len, g->id);
}
#define RN__GID(g) (rn__print_id(gid_, sizeof gid_, (g)), gid_)

/* ---- registry ------------------------------------------------------------------ */

static size_t rn__hash(rn_str_t s) {
  return (size_t)XXH3_64bits(s.len > 0 ? s.ptr : (const uint8_t *)"",
                             s.len > 0 ? (size_t)s.len : 0);
}

rn_group_t *rn_groups_find(rn_groups_t *gs, rn_str_t id) {
  if (!gs || !gs->nbuckets || id.len < 0) return NULL;
  size_t h = rn__hash(id) & (gs->nbuckets - 1);
  for (rn_group_t *g = gs->buckets[h]; g; g = g->next)
    if (g->id_len == id.len && (id.len == 0 || memcmp(g->id, id.ptr, (size_t)id.len) == 0))
      return g;
  return NULL;
}

void rn_groups_foreach(rn_groups_t *gs, void (*fn)(rn_group_t *g, void *arg), void *arg) {
  for (size_t i = 0; i < gs->nbuckets; i++)
    for (rn_group_t *g = gs->buckets[i]; g; g = g->next) fn(g, arg);
}

static void rn__groups_rehash(rn_groups_t *gs, size_t nb) {
  rn_group_t **nbk = calloc(nb, sizeof *nbk);
  if (!nbk) return; /* keep the old table: lookups stay correct */
  for (size_t i = 0; i < gs->nbuckets; i++)
    for (rn_group_t *g = gs->buckets[i], *n; g; g = n) {
      n = g->next;
      size_t h = rn__hash((rn_str_t){(const uint8_t *)g->id, g->id_len}) & (nb - 1);
      g->next = nbk[h];
      nbk[h] = g;
    }
  free(gs->buckets);
  gs->buckets = nbk;
  gs->nbuckets = nb;
}

static void rn__member_free(rn_member_t *m) {
  for (int i = 0; i < m->nprotocols; i++) {
    free(m->protocols[i].name);
    free(m->protocols[i].metadata);
  }
  free(m->protocols);
  free(m->id);
  free(m->instance_id);
  free(m->client_id);
  free(m->client_host);
  free(m->assignment);
  free(m->next_assignment);
  free(m);
}

static void rn__list_init(rn_member_t *head) {
  head->next = head->prev = head;
}

static void rn__list_add(rn_member_t *head, rn_member_t *m) {
  m->next = head;
  m->prev = head->prev;
  head->prev->next = m;
  head->prev = m;
}

static void rn__list_del(rn_member_t *m) {
  m->prev->next = m->next;
  m->next->prev = m->prev;
  m->next = m->prev = NULL;
}

static void rn__group_free(rn_group_t *g) {
  for (rn_member_t *m = g->members.next, *n; m != &g->members; m = n) {
    n = m->next;
    rn__member_free(m);
  }
  for (rn_member_t *m = g->pending.next, *n; m != &g->pending; m = n) {
    n = m->next;
    rn__member_free(m);
  }
  for (uint32_t i = 0; i < g->noffs_buckets; i++)
    for (rn_offset_t *o = g->offs[i], *n; o; o = n) {
      n = o->next;
      free(o->topic);
      free(o->metadata);
      free(o);
    }
  free(g->offs);
  for (int i = 0; i < g->nsubs; i++) free(g->subs[i]);
  free(g->subs);
  free(g->id);
  free(g->protocol_type);
  free(g->protocol_name);
  free(g->leader);
  free(g);
}

void rn__group_unref(rn_group_t *g) {
  if (--g->refs == 0) rn__group_free(g);
}

static void rn__group_timer_closed(uv_handle_t *h) {
  rn__group_unref(h->data);
}

static void rn__group_close_timer(rn_group_t *g) {
  if (uv_is_closing((uv_handle_t *)&g->timer)) return;
  uv_timer_stop(&g->timer);
  g->timer_due = 0;
  uv_close((uv_handle_t *)&g->timer, rn__group_timer_closed);
}

static void rn__group_transition(rn_group_t *g, int state) {
  g->state = state;
  g->state_ts = rn_now_ms();
}

rn_group_t *rn__groups_get(rn_groups_t *gs, rn_str_t id) {
  rn_group_t *g = rn_groups_find(gs, id);
  if (g) return g;
  if (id.len < 0) return NULL;
  g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->id = malloc((size_t)id.len + 1);
  if (!g->id) {
    free(g);
    return NULL;
  }
  if (id.len) memcpy(g->id, id.ptr, (size_t)id.len);
  g->id[id.len] = 0;
  g->id_len = id.len;
  g->gs = gs;
  rn__list_init(&g->members);
  rn__list_init(&g->pending);
  rn__group_transition(g, RN_GROUP_EMPTY);
  uv_timer_init(gs->loop, &g->timer);
  g->timer.data = g;
  g->refs = 2; /* registry + timer handle */
  if (gs->stopping) rn__group_close_timer(g);
  if (gs->ngroups + 1 > gs->nbuckets) rn__groups_rehash(gs, gs->nbuckets ? gs->nbuckets * 2 : 64);
  if (!gs->nbuckets) { /* the first table could not be allocated */
    rn__group_close_timer(g);
    rn__group_unref(g);
    return NULL;
  }
  size_t h = rn__hash(id) & (gs->nbuckets - 1);
  g->next = gs->buckets[h];
  gs->buckets[h] = g;
  gs->ngroups++;
  return g;
}

/* Makes g Dead and unlinks it; it is freed when its last reference goes.
 * Callers answer parked requests first (G2); pending members are dropped. */
static void rn__group_remove(rn_group_t *g) {
  rn_groups_t *gs = g->gs;
  if (g->state == RN_GROUP_DEAD) return;
  rn__group_transition(g, RN_GROUP_DEAD);
  size_t h = rn__hash((rn_str_t){(const uint8_t *)g->id, g->id_len}) & (gs->nbuckets - 1);
  for (rn_group_t **pp = &gs->buckets[h]; *pp; pp = &(*pp)->next)
    if (*pp == g) {
      *pp = g->next;
      break;
    }
  g->next = NULL;
  gs->ngroups--;
  for (rn_member_t *m = g->pending.next, *n; m != &g->pending; m = n) {
    n = m->next;
    rn__list_del(m);
    rn__member_free(m);
  }
  g->npending = 0;
  g->join_deadline = g->sync_deadline = 0;
  rn__group_close_timer(g);
  rn__group_unref(g);
}

/* ---- offsets cache ---------------------------------------------------------------- */

static uint32_t rn__off_hash(rn_str_t topic, int32_t part) {
  return (uint32_t)XXH3_64bits_withSeed(topic.len > 0 ? topic.ptr : (const uint8_t *)"",
                                        topic.len > 0 ? (size_t)topic.len : 0,
                                        (uint64_t)(uint32_t)part);
}

static rn_offset_t *rn__off_find(const rn_group_t *g, rn_str_t topic, int32_t part) {
  if (!g->noffs_buckets || topic.len < 0) return NULL;
  uint32_t h = rn__off_hash(topic, part) & (g->noffs_buckets - 1);
  for (rn_offset_t *o = g->offs[h]; o; o = o->next)
    if (o->partition == part && rn__eq(o->topic, topic)) return o;
  return NULL;
}

static void rn__off_rehash(rn_group_t *g, uint32_t nb) {
  rn_offset_t **n = calloc(nb, sizeof *n);
  if (!n) return;
  for (uint32_t i = 0; i < g->noffs_buckets; i++)
    for (rn_offset_t *o = g->offs[i], *next; o; o = next) {
      next = o->next;
      uint32_t h = rn__off_hash(rn_str_c(o->topic), o->partition) & (nb - 1);
      o->next = n[h];
      n[h] = o;
    }
  free(g->offs);
  g->offs = n;
  g->noffs_buckets = nb;
}

/* Finds or creates the entry (committed = 0 when new). NULL on ENOMEM. */
static rn_offset_t *rn__off_get(rn_group_t *g, rn_str_t topic, int32_t part) {
  rn_offset_t *o = rn__off_find(g, topic, part);
  if (o) return o;
  if (topic.len < 0) return NULL;
  if (g->noffs + 1 > g->noffs_buckets)
    rn__off_rehash(g, g->noffs_buckets ? g->noffs_buckets * 2 : 16);
  if (!g->noffs_buckets) return NULL;
  o = calloc(1, sizeof *o);
  if (!o || rn__strset(&o->topic, topic) || rn__strset(&o->metadata, RN_STR_EMPTY)) {
    if (o) {
      free(o->topic);
      free(o);
    }
    return NULL;
  }
  o->partition = part;
  o->leader_epoch = -1;
  o->expire_ts = -1;
  uint32_t h = rn__off_hash(topic, part) & (g->noffs_buckets - 1);
  o->next = g->offs[h];
  g->offs[h] = o;
  g->noffs++;
  return o;
}

static void rn__off_del(rn_group_t *g, rn_offset_t *o) {
  uint32_t h = rn__off_hash(rn_str_c(o->topic), o->partition) & (g->noffs_buckets - 1);
  for (rn_offset_t **pp = &g->offs[h]; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  g->noffs--;
  free(o->topic);
  free(o->metadata);
  free(o);
}

rn_err_t rn__group_set_offset(rn_group_t *g, rn_str_t topic, int32_t partition, int64_t offset,
                              int32_t leader_epoch, rn_str_t metadata, int64_t commit_ts,
                              int64_t expire_ts) {
  rn_offset_t *o = rn__off_get(g, topic, partition);
  if (!o) return -ENOMEM;
  if (metadata.len < 0) metadata = RN_STR_EMPTY;
  if (!rn__eq(o->metadata, metadata) && rn__strset(&o->metadata, metadata)) return -ENOMEM;
  o->committed = 1;
  o->offset = offset;
  o->leader_epoch = leader_epoch;
  o->commit_ts = commit_ts;
  o->expire_ts = expire_ts;
  return 0;
}

void rn__group_remove_offset(rn_group_t *g, rn_str_t topic, int32_t partition) {
  rn_offset_t *o = rn__off_find(g, topic, partition);
  if (!o) return;
  if (o->pending)
    o->committed = 0; /* the pending commit still owns it */
  else
    rn__off_del(g, o);
}

const rn_offset_t *rn_group_offset(const rn_group_t *g, rn_str_t topic, int32_t partition) {
  const rn_offset_t *o = rn__off_find(g, topic, partition);
  return o && o->committed ? o : NULL;
}

int rn_group_offset_pending(const rn_group_t *g, rn_str_t topic, int32_t partition) {
  const rn_offset_t *o = rn__off_find(g, topic, partition);
  return o && o->pending > 0;
}

void rn_group_offsets_foreach(const rn_group_t *g, void (*fn)(const rn_offset_t *o, void *arg),
                              void *arg) {
  for (uint32_t i = 0; i < g->noffs_buckets; i++)
    for (const rn_offset_t *o = g->offs[i]; o; o = o->next)
      if (o->committed) fn(o, arg);
}

static int rn__group_has_offsets(const rn_group_t *g) {
  for (uint32_t i = 0; i < g->noffs_buckets; i++)
    for (const rn_offset_t *o = g->offs[i]; o; o = o->next)
      if (o->committed || o->pending) return 1;
  return 0;
}

/* ---- members ---------------------------------------------------------------------- */

static rn_member_t *rn__member_find(rn_group_t *g, rn_str_t id) {
  if (id.len <= 0) return NULL;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next)
    if (rn__eq(m->id, id)) return m;
  return NULL;
}

static rn_member_t *rn__pending_find(rn_group_t *g, rn_str_t id) {
  if (id.len <= 0) return NULL;
  for (rn_member_t *m = g->pending.next; m != &g->pending; m = m->next)
    if (rn__eq(m->id, id)) return m;
  return NULL;
}

static rn_member_t *rn__static_find(rn_group_t *g, rn_str_t instance) {
  if (instance.len < 0) return NULL;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next)
    if (m->instance_id && rn__eq(m->instance_id, instance)) return m;
  return NULL;
}

rn_bytes_t rn_member_metadata(const rn_member_t *m, const char *protocol) {
  if (protocol)
    for (int i = 0; i < m->nprotocols; i++)
      if (strcmp(m->protocols[i].name, protocol) == 0)
        return (rn_bytes_t){
            m->protocols[i].metadata ? m->protocols[i].metadata : (const uint8_t *)"",
            m->protocols[i].metadata_len};
  return RN_STR_EMPTY;
}

/* Replaces m's protocols with copies of p[0..n-1]. 0 or -ENOMEM. */
static rn_err_t rn__member_set_protocols(rn_member_t *m,
                                         const rn_JoinGroupRequest_JoinGroupRequestProtocol *p,
                                         int32_t n) {
  rn_member_protocol_t *np = calloc(n > 0 ? (size_t)n : 1, sizeof *np);
  if (!np) return -ENOMEM;
  for (int32_t i = 0; i < n; i++) {
    rn_str_t name = p[i].Name.len < 0 ? RN_STR_EMPTY : p[i].Name;
    int32_t ml = p[i].Metadata.len < 0 ? 0 : p[i].Metadata.len;
    np[i].name = malloc((size_t)name.len + 1);
    np[i].metadata = malloc(ml ? (size_t)ml : 1);
    if (!np[i].name || !np[i].metadata) {
      for (int32_t j = 0; j <= i; j++) {
        free(np[j].name);
        free(np[j].metadata);
      }
      free(np);
      return -ENOMEM;
    }
    if (name.len) memcpy(np[i].name, name.ptr, (size_t)name.len);
    np[i].name[name.len] = 0;
    np[i].name_len = name.len;
    if (ml) memcpy(np[i].metadata, p[i].Metadata.ptr, (size_t)ml);
    np[i].metadata_len = ml;
  }
  for (int i = 0; i < m->nprotocols; i++) {
    free(m->protocols[i].name);
    free(m->protocols[i].metadata);
  }
  free(m->protocols);
  m->protocols = np;
  m->nprotocols = n;
  return 0;
}

/* Whether m joined with exactly these protocols (names, order, metadata). */
static int rn__member_matches(const rn_member_t *m,
                              const rn_JoinGroupRequest_JoinGroupRequestProtocol *p, int32_t n) {
  if (m->nprotocols != n) return 0;
  for (int32_t i = 0; i < n; i++) {
    const rn_member_protocol_t *mp = &m->protocols[i];
    int32_t ml = p[i].Metadata.len < 0 ? 0 : p[i].Metadata.len;
    if (!rn__eq(mp->name, p[i].Name.len < 0 ? RN_STR_EMPTY : p[i].Name) || mp->metadata_len != ml ||
        (ml && memcmp(mp->metadata, p[i].Metadata.ptr, (size_t)ml) != 0))
      return 0;
  }
  return 1;
}

static int rn__member_supports(const rn_member_t *m, const char *name, int32_t len) {
  for (int i = 0; i < m->nprotocols; i++)
    if (m->protocols[i].name_len == len && memcmp(m->protocols[i].name, name, (size_t)len) == 0)
      return 1;
  return 0;
}

/* Kafka's supportsProtocols: an Empty group takes any non-empty protocol
 * type and list; otherwise the type must match and at least one protocol
 * must be supported by every member (except `self`, which is rejoining:
 * a departure that lets a lone member change its protocols). */
static int rn__group_supports(rn_group_t *g, rn_str_t type,
                              const rn_JoinGroupRequest_JoinGroupRequestProtocol *p, int32_t n,
                              const rn_member_t *self) {
  if (type.len <= 0 || n <= 0) return 0;
  if (g->state == RN_GROUP_EMPTY || g->nmembers == 0) return 1;
  if (!rn__eq(g->protocol_type, type)) return 0;
  for (int32_t i = 0; i < n; i++) {
    rn_str_t name = p[i].Name.len < 0 ? RN_STR_EMPTY : p[i].Name;
    int all = 1;
    for (rn_member_t *m = g->members.next; m != &g->members && all; m = m->next)
      if (m != self && !rn__member_supports(m, (const char *)name.ptr, name.len)) all = 0;
    if (all) return 1;
  }
  return 0;
}

/* Kafka's selectProtocol: among the protocols every member supports, each
 * member votes for its most preferred one; the most votes win (ties go to
 * the earlier protocol in the first member's list). */
static const char *rn__group_select_protocol(rn_group_t *g) {
  rn_member_t *first = g->members.next;
  if (first == &g->members || first->nprotocols == 0) return NULL;
  int n = first->nprotocols;
  int *votes = calloc((size_t)n, sizeof *votes);
  char *cand = calloc((size_t)n, 1);
  if (!votes || !cand) {
    free(votes);
    free(cand);
    return first->protocols[0].name;
  }
  int any = 0;
  for (int i = 0; i < n; i++) {
    cand[i] = 1;
    for (rn_member_t *m = first->next; m != &g->members; m = m->next)
      if (!rn__member_supports(m, first->protocols[i].name, first->protocols[i].name_len)) {
        cand[i] = 0;
        break;
      }
    any |= cand[i];
  }
  const char *best = first->protocols[0].name;
  if (any) {
    for (rn_member_t *m = g->members.next; m != &g->members; m = m->next)
      for (int j = 0; j < m->nprotocols; j++) {
        int k;
        for (k = 0; k < n; k++)
          if (cand[k] && first->protocols[k].name_len == m->protocols[j].name_len &&
              strcmp(first->protocols[k].name, m->protocols[j].name) == 0)
            break;
        if (k < n) {
          votes[k]++;
          break;
        }
      }
    int bi = -1;
    for (int k = 0; k < n; k++)
      if (cand[k] && (bi < 0 || votes[k] > votes[bi])) bi = k;
    best = first->protocols[bi].name;
  }
  free(votes);
  free(cand);
  return best;
}

static void rn__group_clear_subs(rn_group_t *g) {
  for (int i = 0; i < g->nsubs; i++) free(g->subs[i]);
  free(g->subs);
  g->subs = NULL;
  g->nsubs = 0;
  g->subs_known = 0;
}

/* Adds topic to the subscription set (deduplicated). 0 or -ENOMEM. */
static rn_err_t rn__group_add_sub(rn_group_t *g, rn_str_t topic) {
  for (int i = 0; i < g->nsubs; i++)
    if (rn__eq(g->subs[i], topic)) return 0;
  char **n = realloc(g->subs, sizeof *n * (size_t)(g->nsubs + 1));
  if (!n) return -ENOMEM;
  g->subs = n;
  g->subs[g->nsubs] = NULL;
  if (rn__strset(&g->subs[g->nsubs], topic)) return -ENOMEM;
  g->nsubs++;
  return 0;
}

/* Kafka's computeSubscribedTopics: for a "consumer" group, the union of
 * the Topics of every member's ConsumerProtocolSubscription (version
 * prefix, then the v0 layout, which every later version extends). */
static void rn__group_compute_subs(rn_group_t *g) {
  rn__group_clear_subs(g);
  if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0 || !g->protocol_name ||
      g->nmembers == 0)
    return;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    rn_bytes_t md = rn_member_metadata(m, g->protocol_name);
    rn_rd_t rd;
    rn_rd_init(&rd, md.ptr, md.len > 0 ? (size_t)md.len : 0);
    (void)rn_rd_i16(&rd);
    int32_t n = rn_rd_array_len(&rd, 2);
    for (int32_t i = 0; i < n && !rn_rd_err(&rd); i++) {
      rn_str_t t = rn_rd_str(&rd);
      if (!rn_rd_err(&rd) && t.len >= 0 && rn__group_add_sub(g, t)) {
        rn__group_clear_subs(g);
        return;
      }
    }
    if (rn_rd_err(&rd) || n < 0) {
      RN_DEBUG("group %.*s: member %s sent undecodable consumer metadata", (int)g->id_len, g->id,
               m->id);
      rn__group_clear_subs(g);
      return;
    }
  }
  g->subs_known = 1;
}

int rn_group_subscribed(const rn_group_t *g, rn_str_t topic) {
  if (!g->subs_known) return 1; /* unknown: assume it is, to be safe (Kafka) */
  for (int i = 0; i < g->nsubs; i++)
    if (rn__eq(g->subs[i], topic)) return 1;
  return 0;
}

/* Kafka's member id: "<client id>-<uuid>" (the instance id for static
 * members). The prefix is capped so ids fit the stored int16 strings. */
static char *rn__member_id_new(rn_str_t prefix) {
  rn_uuid_t u = rn_uuid_random();
  int pl = prefix.len < 0                          ? 0
           : prefix.len > RN__CLIENT_ID_PREFIX_MAX ? RN__CLIENT_ID_PREFIX_MAX
                                                   : prefix.len;
  char *s = malloc((size_t)pl + 38);
  if (!s) return NULL;
  int n = snprintf(s, (size_t)pl + 38, "%.*s-", pl, pl ? (const char *)prefix.ptr : "");
  for (int i = 0; i < 16; i++) {
    n += snprintf(s + n, 3, "%02x", u.b[i]);
    if (i == 3 || i == 5 || i == 7 || i == 9) s[n++] = '-';
  }
  s[n] = 0;
  return s;
}

/* ---- timers ------------------------------------------------------------------------- */

static void rn__group_tick(rn_group_t *g);

static void rn__group_timer_cb(uv_timer_t *t) {
  rn_group_t *g = t->data;
  g->timer_due = 0;
  rn__group_tick(g);
}

/* Makes sure the timer fires no later than due (uv_now ms; 0 = none). */
static void rn__group_schedule(rn_group_t *g, int64_t due) {
  if (!due || g->gs->stopping || g->state == RN_GROUP_DEAD ||
      uv_is_closing((uv_handle_t *)&g->timer))
    return;
  if (g->timer_due && g->timer_due <= due) return;
  g->timer_due = due;
  int64_t now = rn__now(g->gs);
  uv_timer_start(&g->timer, rn__group_timer_cb, due > now ? (uint64_t)(due - now) : 0, 0);
}

/* Re-arms the timer for the earliest pending deadline. */
static void rn__group_rearm(rn_group_t *g) {
  int64_t min = 0;
#define RN__MIN(d)                             \
  do {                                         \
    if ((d) && (!min || (d) < min)) min = (d); \
  } while (0)
  RN__MIN(g->join_deadline);
  RN__MIN(g->sync_deadline);
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) RN__MIN(m->deadline);
  for (rn_member_t *m = g->pending.next; m != &g->pending; m = m->next) RN__MIN(m->deadline);
#undef RN__MIN
  if (uv_is_closing((uv_handle_t *)&g->timer)) return;
  uv_timer_stop(&g->timer);
  g->timer_due = 0;
  rn__group_schedule(g, min);
}

/* Kafka's completeAndScheduleNextHeartbeatExpiration. */
static void rn__member_heartbeat(rn_member_t *m) {
  m->deadline = rn__now(m->group->gs) + m->session_timeout_ms;
  rn__group_schedule(m->group, m->deadline);
}

/* ---- answering parked requests (G2) ----------------------------------------------- */

static void rn__join_fail(rn_join_cb cb, void *arg, int16_t err, rn_str_t member_id) {
  rn_join_result_t r;
  memset(&r, 0, sizeof r);
  r.error = err;
  r.generation = -1;
  r.protocol_type = RN_STR_NULL;
  r.protocol_name = RN_STR_NULL;
  r.leader = RN_STR_EMPTY;
  r.member_id = member_id.len < 0 ? RN_STR_EMPTY : member_id;
  cb(arg, &r);
}

/* Answers with the group's current generation; the leader's answer
 * (with_members) lists every member with its metadata for the selected
 * protocol. */
static void rn__join_current(rn_group_t *g, const char *member_id, int with_members,
                             const char *leader, int skip, rn_join_cb cb, void *arg) {
  rn_join_result_t r;
  memset(&r, 0, sizeof r);
  r.generation = g->generation;
  r.protocol_type = rn_str_c(g->protocol_type);
  r.protocol_name = rn_str_c(g->protocol_name);
  r.leader = leader ? rn_str_c(leader) : RN_STR_EMPTY;
  r.member_id = rn_str_c(member_id);
  r.skip_assignment = skip;
  rn_join_member_t *mem = NULL;
  if (with_members && g->nmembers > 0) {
    mem = malloc(sizeof *mem * (size_t)g->nmembers);
    if (!mem) {
      rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, rn_str_c(member_id));
      return;
    }
    int i = 0;
    for (rn_member_t *m = g->members.next; m != &g->members; m = m->next, i++) {
      mem[i].member_id = rn_str_c(m->id);
      mem[i].instance_id = rn_str_c(m->instance_id);
      mem[i].metadata = rn_member_metadata(m, g->protocol_name);
    }
    r.members = mem;
    r.nmembers = i;
  }
  cb(arg, &r);
  free(mem);
}

/* Takes m's parked JoinGroup (NULL cb when none). */
static rn_join_cb rn__member_take_join(rn_member_t *m, void **arg) {
  rn_join_cb cb = m->join_cb;
  *arg = m->join_arg;
  if (cb) {
    m->join_cb = NULL;
    m->join_arg = NULL;
    m->group->nawaiting_join--;
  }
  return cb;
}

static void rn__member_join_error(rn_member_t *m, int16_t err, rn_str_t member_id) {
  void *arg;
  rn_join_cb cb = rn__member_take_join(m, &arg);
  if (cb) rn__join_fail(cb, arg, err, member_id);
}

static void rn__member_sync_answer(rn_member_t *m, int16_t err) {
  rn_sync_cb cb = m->sync_cb;
  if (!cb) return;
  void *arg = m->sync_arg;
  m->sync_cb = NULL;
  m->sync_arg = NULL;
  rn_sync_result_t r;
  rn_group_t *g = m->group;
  r.error = err;
  r.protocol_type = err ? RN_STR_NULL : rn_str_c(g->protocol_type);
  r.protocol_name = err ? RN_STR_NULL : rn_str_c(g->protocol_name);
  r.assignment =
      err || !m->assignment ? RN_STR_EMPTY : (rn_bytes_t){m->assignment, m->assignment_len};
  cb(arg, &r);
}

static void rn__sync_fail(rn_sync_cb cb, void *arg, int16_t err) {
  rn_sync_result_t r = {err, RN_STR_NULL, RN_STR_NULL, RN_STR_EMPTY};
  cb(arg, &r);
}

/* Kafka's propagateAssignment: answers every parked SyncGroup and restarts
 * those members' sessions. */
static void rn__group_propagate(rn_group_t *g, int16_t err) {
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    if (!m->sync_cb) continue;
    rn__member_sync_answer(m, err);
    rn__member_heartbeat(m);
  }
}

static void rn__member_clear_pending_sync(rn_member_t *m) {
  rn_group_t *g = m->group;
  if (!m->pending_sync) return;
  m->pending_sync = 0;
  if (--g->npending_sync == 0) g->sync_deadline = 0;
}

/* ---- state machine ------------------------------------------------------------------ */

static void rn__group_prepare_rebalance(rn_group_t *g, const char *reason);
static void rn__group_complete_join(rn_group_t *g);

static int32_t rn__group_rebalance_timeout(const rn_group_t *g) {
  int32_t t = 0;
  for (const rn_member_t *m = g->members.next; m != &g->members; m = m->next)
    if (m->rebalance_timeout_ms > t) t = m->rebalance_timeout_ms;
  return t;
}

static void rn__group_maybe_prepare_rebalance(rn_group_t *g, const char *reason) {
  if (g->state == RN_GROUP_STABLE || g->state == RN_GROUP_COMPLETING_REBALANCE ||
      g->state == RN_GROUP_EMPTY)
    rn__group_prepare_rebalance(g, reason);
}

/* Kafka's hasAllMembersJoined. */
static int rn__group_all_joined(const rn_group_t *g) {
  return g->nawaiting_join == g->nmembers && g->npending == 0;
}

/* Kafka's DelayedJoin.tryComplete (the initial delay only ends by time). */
static void rn__group_try_complete_join(rn_group_t *g) {
  if (g->state == RN_GROUP_PREPARING_REBALANCE && !g->join_initial && rn__group_all_joined(g))
    rn__group_complete_join(g);
}

/* Unlinks m from the group, answering its parked requests (join_err with
 * member id "", sync_err), and frees it. No state change. */
static void rn__group_drop_member(rn_group_t *g, rn_member_t *m, int16_t join_err,
                                  int16_t sync_err) {
  rn__member_join_error(m, join_err, RN_STR_EMPTY);
  rn__member_sync_answer(m, sync_err);
  rn__member_clear_pending_sync(m);
  rn__list_del(m);
  g->nmembers--;
  if (g->leader && strcmp(g->leader, m->id) == 0) {
    free(g->leader);
    g->leader = NULL;
    if (g->nmembers > 0) g->leader = strdup(g->members.next->id);
  }
  rn__member_free(m);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void rn__group_remove_member(rn_group_t *g, rn_member_t *m, const char *reason) {
  char gid_[208];
  RN_INFO("group %s: removing member %s (%s)", RN__GID(g), m->id, reason);
  rn__group_drop_member(g, m, RN_ERR_UNKNOWN_MEMBER_ID, RN_ERR_UNKNOWN_MEMBER_ID);
  switch (g->state) {
    case RN_GROUP_STABLE:
    case RN_GROUP_COMPLETING_REBALANCE:
      rn__group_maybe_prepare_rebalance(g, reason);
      break;
    case RN_GROUP_PREPARING_REBALANCE:
      rn__group_try_complete_join(g);
      break;
    default:
      break;
  }
}

static void rn__member_free_next_assignment(rn_member_t *m) {
  free(m->next_assignment);
  m->next_assignment = NULL;
  m->next_assignment_len = 0;
}

/* Kafka's prepareRebalance. */
static void rn__group_prepare_rebalance(rn_group_t *g, const char *reason) {
  rn_groups_t *gs = g->gs;
  char gid_[208];
  if (g->state == RN_GROUP_COMPLETING_REBALANCE) {
    /* resetAndPropagateAssignmentError(REBALANCE_IN_PROGRESS) */
    for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
      free(m->assignment);
      m->assignment = NULL;
      m->assignment_len = 0;
    }
    rn__group_propagate(g, RN_ERR_REBALANCE_IN_PROGRESS);
  }
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    m->pending_sync = 0;
    rn__member_free_next_assignment(m);
  }
  g->npending_sync = 0;
  g->sync_deadline = 0;
  g->store_seq++; /* an assignment being stored is stale now */
  int64_t now = rn__now(gs);
  RN_INFO("group %s: preparing to rebalance in state %s with old generation %d (%s)", RN__GID(g),
          rn_group_state_name(g->state), g->generation, reason);
  if (g->state == RN_GROUP_EMPTY) {
    int64_t delay = rn__cfg(gs, RN_BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
    int64_t rt = rn__group_rebalance_timeout(g);
    g->join_initial = 1;
    g->join_remaining = rt > delay ? rt - delay : 0;
    g->new_member_added = 0;
    g->join_deadline = now + delay;
  } else {
    g->join_initial = 0;
    g->join_deadline = now + rn__group_rebalance_timeout(g);
  }
  if (!g->join_deadline) g->join_deadline = 1; /* 0 means none */
  rn__group_transition(g, RN_GROUP_PREPARING_REBALANCE);
  rn__group_schedule(g, g->join_deadline);
  rn__group_try_complete_join(g);
}

/* Kafka's maybeElectNewJoinedLeader. */
static int rn__group_elect_leader(rn_group_t *g) {
  if (!g->leader) return 0;
  rn_member_t *l = rn__member_find(g, rn_str_c(g->leader));
  if (l && l->join_cb) return 1;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next)
    if (m->join_cb) {
      char *id = strdup(m->id);
      if (!id) return 0;
      free(g->leader);
      g->leader = id;
      return 1;
    }
  return 0;
}

static void rn__group_store_logged(void *arg, rn_err_t err) {
  rn_group_t *g = arg;
  char gid_[208];
  if (err) RN_WARN("group %s: storing group metadata failed: %s", RN__GID(g), rn_err_name(err));
}

/* Kafka's onCompleteJoin: the end of PreparingRebalance. */
static void rn__group_complete_join(rn_group_t *g) {
  rn_groups_t *gs = g->gs;
  char gid_[208];
  g->join_deadline = 0;
  g->join_initial = 0;
  /* Dynamic members that did not rejoin are dropped; static ones stay. */
  for (rn_member_t *m = g->members.next, *n; m != &g->members; m = n) {
    n = m->next;
    if (!m->join_cb && !m->instance_id) {
      RN_INFO("group %s: member %s did not rejoin in time, removing it", RN__GID(g), m->id);
      rn__group_drop_member(g, m, RN_ERR_UNKNOWN_MEMBER_ID, RN_ERR_UNKNOWN_MEMBER_ID);
    }
  }
  if (g->state == RN_GROUP_DEAD) return;
  if (!rn__group_elect_leader(g) && g->nmembers > 0) {
    /* Only static members that have not rejoined are left: wait another
     * rebalance timeout for them (or for their sessions to expire). */
    RN_WARN("group %s: no member rejoined; waiting another rebalance timeout", RN__GID(g));
    g->join_deadline = rn__now(gs) + rn__group_rebalance_timeout(g);
    if (!g->join_deadline) g->join_deadline = 1;
    rn__group_schedule(g, g->join_deadline);
    return;
  }
  /* initNextGeneration */
  g->generation++;
  free(g->protocol_name);
  g->protocol_name = NULL;
  g->npending_sync = 0;
  if (g->nmembers > 0) {
    const char *sel = rn__group_select_protocol(g);
    g->protocol_name = sel ? strdup(sel) : NULL;
    rn__group_compute_subs(g);
    rn__group_transition(g, RN_GROUP_COMPLETING_REBALANCE);
  } else {
    rn__group_clear_subs(g);
    free(g->leader);
    g->leader = NULL;
    rn__group_transition(g, RN_GROUP_EMPTY);
  }
  if (g->state == RN_GROUP_EMPTY) {
    RN_INFO("group %s: generation %d is empty", RN__GID(g), g->generation);
    rn_err_t err = rn_offsets_store_group(gs, g, 0, rn__group_store_logged, g);
    if (err) rn__group_store_logged(g, err);
    return;
  }
  RN_INFO("group %s: stabilized generation %d (protocol %s, %d members, leader %s)", RN__GID(g),
          g->generation, g->protocol_name ? g->protocol_name : "-", g->nmembers,
          g->leader ? g->leader : "-");
  /* Answer every parked JoinGroup; start sessions; expect SyncGroups. */
  int64_t now = rn__now(gs);
  g->sync_deadline = now + rn__group_rebalance_timeout(g);
  if (!g->sync_deadline) g->sync_deadline = 1;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    m->pending_sync = 1;
    g->npending_sync++;
  }
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    void *arg;
    rn_join_cb cb = rn__member_take_join(m, &arg);
    if (cb) {
      int leader = g->leader && strcmp(g->leader, m->id) == 0;
      rn__join_current(g, m->id, leader, g->leader, 0, cb, arg);
    }
    rn__member_heartbeat(m);
    m->is_new = 0;
  }
  rn__group_schedule(g, g->sync_deadline);
}

/* The join deadline passed: end of the initial delay or rebalance timeout. */
static void rn__group_join_deadline(rn_group_t *g) {
  if (g->state != RN_GROUP_PREPARING_REBALANCE) return;
  if (g->join_initial && g->new_member_added && g->join_remaining > 0) {
    /* KIP-134: members are still arriving; wait a little longer. */
    int64_t delay = rn__cfg(g->gs, RN_BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS);
    if (delay > g->join_remaining) delay = g->join_remaining;
    g->join_remaining -= delay;
    g->new_member_added = 0;
    g->join_deadline = rn__now(g->gs) + delay;
    if (!g->join_deadline) g->join_deadline = 1;
    rn__group_schedule(g, g->join_deadline);
    return;
  }
  rn__group_complete_join(g);
}

/* Kafka's onExpirePendingSync: members that did not send SyncGroup within
 * the rebalance timeout after the join are removed. */
static void rn__group_sync_expired(rn_group_t *g) {
  char gid_[208];
  if ((g->state != RN_GROUP_COMPLETING_REBALANCE && g->state != RN_GROUP_STABLE) ||
      g->npending_sync == 0)
    return;
  for (rn_member_t *m = g->members.next, *n; m != &g->members; m = n) {
    n = m->next;
    if (!m->pending_sync) continue;
    RN_INFO("group %s: member %s sent no SyncGroup in time, removing it", RN__GID(g), m->id);
    rn__group_drop_member(g, m, RN_ERR_UNKNOWN_MEMBER_ID, RN_ERR_UNKNOWN_MEMBER_ID);
  }
  rn__group_prepare_rebalance(g, "members did not send SyncGroup within the rebalance timeout");
}

/* Kafka's shouldKeepAlive/hasSatisfiedHeartbeat: a member waiting in a
 * JoinGroup or SyncGroup is not expired by its session (the rebalance
 * bounds it), except a new member, which has a fixed join timeout. */
static int rn__member_keep_alive(const rn_member_t *m) {
  if (m->is_new) return 0;
  return m->join_cb != NULL || m->sync_cb != NULL;
}

static void rn__group_tick(rn_group_t *g) {
  rn_groups_t *gs = g->gs;
  if (gs->stopping || g->state == RN_GROUP_DEAD) return;
  g->refs++;
  int64_t now = rn__now(gs);
  if (g->join_deadline && now >= g->join_deadline) {
    g->join_deadline = 0;
    rn__group_join_deadline(g);
  }
  if (g->sync_deadline && now >= g->sync_deadline) {
    g->sync_deadline = 0;
    rn__group_sync_expired(g);
  }
  for (;;) {
    rn_member_t *p = g->pending.next;
    while (p != &g->pending && !(p->deadline && p->deadline <= now)) p = p->next;
    if (p == &g->pending) break;
    char gid_[208];
    RN_INFO("group %s: pending member %s did not rejoin, removing it", RN__GID(g), p->id);
    rn__list_del(p);
    g->npending--;
    rn__member_free(p);
    rn__group_try_complete_join(g);
  }
  for (;;) {
    rn_member_t *m = g->members.next;
    while (m != &g->members && !(m->deadline && m->deadline <= now)) m = m->next;
    if (m == &g->members || g->state == RN_GROUP_DEAD) break;
    if (rn__member_keep_alive(m)) {
      m->deadline = 0; /* restarted when its request is answered */
      continue;
    }
    rn__group_remove_member(g, m,
                            m->is_new ? "no JoinGroup answer within the new-member timeout"
                                      : "session timeout expired");
  }
  if (g->state != RN_GROUP_DEAD) rn__group_rearm(g);
  rn__group_unref(g);
}

/* ---- JoinGroup ------------------------------------------------------------------------ */

/* Updates a member's protocols and timeouts and parks its JoinGroup. */
static rn_err_t rn__member_update(rn_member_t *m, const rn_join_params_t *p, rn_join_cb cb,
                                  void *arg) {
  rn_err_t err = rn__member_set_protocols(m, p->protocols, p->nprotocols);
  if (err) return err;
  m->session_timeout_ms = p->session_timeout_ms;
  m->rebalance_timeout_ms = p->rebalance_timeout_ms;
  /* A second JoinGroup from the same member replaces a parked one (its
   * client gave up on it); the old request still gets an answer. */
  rn__member_join_error(m, RN_ERR_REBALANCE_IN_PROGRESS, rn_str_c(m->id));
  m->join_cb = cb;
  m->join_arg = arg;
  m->group->nawaiting_join++;
  return 0;
}

static rn_member_t *rn__member_new(rn_group_t *g, char *id, const rn_join_params_t *p) {
  rn_member_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->group = g;
  m->id = id;
  m->session_timeout_ms = p->session_timeout_ms;
  m->rebalance_timeout_ms = p->rebalance_timeout_ms;
  if (rn__strset(&m->instance_id, p->instance_id) ||
      rn__strset(&m->client_id, p->client_id.len < 0 ? RN_STR_EMPTY : p->client_id) ||
      rn__strset(&m->client_host, rn_str_c(p->client_host ? p->client_host : "")) ||
      rn__member_set_protocols(m, p->protocols, p->nprotocols)) {
    m->id = NULL;
    rn__member_free(m);
    return NULL;
  }
  return m;
}

/* Kafka's addMemberAndRebalance. Takes ownership of id. */
static void rn__group_add_member(rn_group_t *g, char *id, const rn_join_params_t *p, rn_join_cb cb,
                                 void *arg) {
  rn_member_t *m = rn__member_new(g, id, p);
  if (!m) {
    free(id);
    rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
    return;
  }
  if (g->nmembers == 0 && rn__strset(&g->protocol_type, p->protocol_type)) {
    rn__member_free(m);
    rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
    return;
  }
  if (!g->leader && !(g->leader = strdup(m->id))) {
    rn__member_free(m);
    rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
    return;
  }
  int64_t now = rn__now(g->gs);
  m->is_new = 1;
  m->joined_ms = now;
  if (g->state == RN_GROUP_PREPARING_REBALANCE && g->generation == 0) g->new_member_added = 1;
  rn__list_add(&g->members, m);
  g->nmembers++;
  m->join_cb = cb;
  m->join_arg = arg;
  g->nawaiting_join++;
  /* New members cannot heartbeat before their first answer; a fixed
   * timeout drops them if their client went away meanwhile. */
  m->deadline = now + RN_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS;
  rn__group_schedule(g, m->deadline);
  char gid_[208];
  RN_INFO("group %s: member %s%s%s (client %s) joins", RN__GID(g), m->id,
          m->instance_id ? " instance " : "", m->instance_id ? m->instance_id : "", m->client_id);
  rn__group_maybe_prepare_rebalance(g, "adding a new member");
}

typedef struct rn__static_ctx {
  rn_group_t *g;
  char *member_id;
  char *old_leader;
  int supports_skip;
} rn__static_ctx_t;

static void rn__static_stored(void *arg, rn_err_t err) {
  rn__static_ctx_t *c = arg;
  rn_group_t *g = c->g;
  rn_member_t *m = g->state == RN_GROUP_DEAD ? NULL : rn__member_find(g, rn_str_c(c->member_id));
  void *jarg;
  rn_join_cb cb = m ? rn__member_take_join(m, &jarg) : NULL;
  if (cb) {
    if (err) {
      /* Departure: Kafka also reverts the member id; the client retries
       * with no member id and replaces the member again. */
      rn__join_fail(cb, jarg, rn__store_error(err), RN_STR_EMPTY);
    } else if (c->supports_skip) {
      int leader = g->leader && strcmp(g->leader, m->id) == 0;
      rn__join_current(g, m->id, leader, g->leader, leader, cb, jarg);
    } else {
      /* Before v9 the old leader id is returned so that a rejoining
       * leader does not run a useless assignment. */
      rn__join_current(g, m->id, 0, c->old_leader, 0, cb, jarg);
    }
    rn__member_heartbeat(m);
  }
  rn__group_unref(g);
  free(c->member_id);
  free(c->old_leader);
  free(c);
}

/* Kafka's updateStaticMemberAndRebalance: a static member rejoins with no
 * member id; its old incarnation is fenced. Takes ownership of new_id. */
static void rn__group_replace_static(rn_group_t *g, rn_member_t *m, char *new_id,
                                     const rn_join_params_t *p, rn_join_cb cb, void *arg) {
  rn_groups_t *gs = g->gs;
  char gid_[208];
  char *old_leader = g->leader ? strdup(g->leader) : NULL;
  RN_INFO("group %s: static member %s rejoins; replacing member %s with %s", RN__GID(g),
          m->instance_id, m->id, new_id);
  rn__member_join_error(m, RN_ERR_FENCED_INSTANCE_ID, rn_str_c(m->id));
  rn__member_sync_answer(m, RN_ERR_FENCED_INSTANCE_ID);
  if (g->leader && strcmp(g->leader, m->id) == 0) {
    free(g->leader);
    g->leader = strdup(new_id);
  }
  free(m->id);
  m->id = new_id;
  rn__member_heartbeat(m);
  if (rn__member_update(m, p, cb, arg)) {
    free(old_leader);
    rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
    return;
  }
  switch (g->state) {
    case RN_GROUP_STABLE: {
      const char *sel = rn__group_select_protocol(g);
      if (sel && g->protocol_name && strcmp(sel, g->protocol_name) == 0) {
        rn__static_ctx_t *c = calloc(1, sizeof *c);
        char *mid = c ? strdup(new_id) : NULL;
        if (!c || !mid) {
          free(c);
          free(old_leader);
          rn__member_join_error(m, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
          return;
        }
        c->g = g;
        c->member_id = mid;
        c->old_leader = old_leader;
        c->supports_skip = p->supports_skip_assignment;
        g->refs++;
        rn_err_t err = rn_offsets_store_group(gs, g, 0, rn__static_stored, c);
        if (err) rn__static_stored(c, err);
        return;
      }
      rn__group_maybe_prepare_rebalance(g, "a static member rejoined with other protocols");
      break;
    }
    case RN_GROUP_COMPLETING_REBALANCE:
      /* The leader may already hold the old member id in its assignment. */
      rn__group_prepare_rebalance(g, "a static member rejoined during CompletingRebalance");
      break;
    default:
      break;
  }
  free(old_leader);
}

/* Kafka's validateCurrentMember: 0 and *out, or the error. */
static int16_t rn__validate_member(rn_group_t *g, rn_str_t member_id, rn_str_t instance_id,
                                   rn_member_t **out) {
  rn_member_t *m;
  if (instance_id.len >= 0) {
    m = rn__static_find(g, instance_id);
    if (!m) return RN_ERR_UNKNOWN_MEMBER_ID;
    if (!rn__eq(m->id, member_id)) return RN_ERR_FENCED_INSTANCE_ID;
  } else {
    m = rn__member_find(g, member_id);
    if (!m) return RN_ERR_UNKNOWN_MEMBER_ID;
  }
  *out = m;
  return 0;
}

/* Kafka's acceptJoiningMember (group.max.size). */
static int rn__group_accepts(rn_group_t *g, rn_str_t member_id) {
  int64_t max = rn__cfg(g->gs, RN_BCFG_GROUP_MAX_SIZE);
  rn_member_t *m = rn__member_find(g, member_id);
  switch (g->state) {
    case RN_GROUP_PREPARING_REBALANCE:
      return (m && m->join_cb) || g->nawaiting_join + g->npending < max;
    case RN_GROUP_COMPLETING_REBALANCE:
    case RN_GROUP_STABLE:
      return m != NULL || g->nmembers < max;
    default:
      return 1;
  }
}

static int rn__too_long(rn_str_t s) {
  return s.len > RN__MAX_STR;
}

void rn_group_join(rn_groups_t *gs, const rn_join_params_t *p0, rn_join_cb cb, void *arg) {
  rn_join_params_t pp = *p0;
  const rn_join_params_t *p = &pp;
  if (pp.rebalance_timeout_ms < 0) pp.rebalance_timeout_ms = pp.session_timeout_ms;
  if (gs->stopping) {
    rn__join_fail(cb, arg, RN_ERR_NOT_COORDINATOR, p->member_id);
    return;
  }
  if (p->group_id.len <= 0 || rn__too_long(p->group_id)) {
    rn__join_fail(cb, arg, RN_ERR_INVALID_GROUP_ID, p->member_id);
    return;
  }
  int bad = rn__too_long(p->member_id) || rn__too_long(p->instance_id) ||
            rn__too_long(p->protocol_type) || p->nprotocols < 0;
  for (int32_t i = 0; i < p->nprotocols && !bad; i++) bad = rn__too_long(p->protocols[i].Name);
  if (bad) {
    rn__join_fail(cb, arg, RN_ERR_INVALID_REQUEST, RN_STR_EMPTY);
    return;
  }
  if (p->session_timeout_ms < rn__cfg(gs, RN_BCFG_GROUP_MIN_SESSION_TIMEOUT_MS) ||
      p->session_timeout_ms > rn__cfg(gs, RN_BCFG_GROUP_MAX_SESSION_TIMEOUT_MS)) {
    rn__join_fail(cb, arg, RN_ERR_INVALID_SESSION_TIMEOUT, p->member_id);
    return;
  }
  int unknown = p->member_id.len <= 0;
  rn_group_t *g = rn_groups_find(gs, p->group_id);
  if (!g) {
    if (!unknown) {
      rn__join_fail(cb, arg, RN_ERR_UNKNOWN_MEMBER_ID, p->member_id);
      return;
    }
    if (!(g = rn__groups_get(gs, p->group_id))) {
      rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, p->member_id);
      return;
    }
  }
  g->refs++;
  rn_member_t *self = rn__member_find(g, p->member_id);
  if (!self && p->instance_id.len >= 0) self = rn__static_find(g, p->instance_id);
  if (p->reason.len > 0) {
    char gid_[208];
    RN_DEBUG("group %s: JoinGroup reason: %.*s", RN__GID(g),
             p->reason.len > 200 ? 200 : (int)p->reason.len, (const char *)p->reason.ptr);
  }
  if (g->state == RN_GROUP_DEAD) {
    rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, p->member_id);
  } else if (!rn__group_accepts(g, p->member_id)) {
    if (self && !unknown) rn__group_remove_member(g, self, "the group is full (group.max.size)");
    rn__join_fail(cb, arg, RN_ERR_GROUP_MAX_SIZE_REACHED, RN_STR_EMPTY);
  } else if (!rn__group_supports(g, p->protocol_type, p->protocols, p->nprotocols, self)) {
    rn__join_fail(cb, arg, RN_ERR_INCONSISTENT_GROUP_PROTOCOL, p->member_id);
  } else if (unknown) {
    /* doNewMemberJoin */
    char *id = rn__member_id_new(p->instance_id.len >= 0 ? p->instance_id : p->client_id);
    rn_member_t *s = p->instance_id.len >= 0 ? rn__static_find(g, p->instance_id) : NULL;
    if (!id) {
      rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
    } else if (s) {
      rn__group_replace_static(g, s, id, p, cb, arg);
    } else if (p->instance_id.len < 0 && p->require_known_member_id) {
      /* KIP-394: hand out the id; the member must rejoin with it within
       * its session timeout. */
      rn_member_t *pm = calloc(1, sizeof *pm);
      if (!pm) {
        free(id);
        rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, RN_STR_EMPTY);
      } else {
        pm->group = g;
        pm->id = id;
        pm->session_timeout_ms = p->session_timeout_ms;
        pm->deadline = rn__now(gs) + p->session_timeout_ms;
        rn__list_add(&g->pending, pm);
        g->npending++;
        rn__group_schedule(g, pm->deadline);
        rn__join_fail(cb, arg, RN_ERR_MEMBER_ID_REQUIRED, rn_str_c(id));
      }
    } else {
      rn__group_add_member(g, id, p, cb, arg);
    }
  } else {
    /* doCurrentMemberJoin */
    rn_member_t *pm = p->instance_id.len < 0 ? rn__pending_find(g, p->member_id) : NULL;
    rn_member_t *m = NULL;
    int16_t err;
    if (pm) {
      char *id = pm->id;
      pm->id = NULL;
      rn__list_del(pm);
      g->npending--;
      rn__member_free(pm);
      rn__group_add_member(g, id, p, cb, arg);
    } else if ((err = rn__validate_member(g, p->member_id, p->instance_id, &m))) {
      rn__join_fail(cb, arg, err, p->member_id);
    } else {
      switch (g->state) {
        case RN_GROUP_PREPARING_REBALANCE:
          if (rn__member_update(m, p, cb, arg))
            rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, p->member_id);
          break;
        case RN_GROUP_COMPLETING_REBALANCE:
          if (rn__member_matches(m, p->protocols, p->nprotocols)) {
            /* The member lost its JoinGroup answer: send it again. */
            int leader = g->leader && strcmp(g->leader, m->id) == 0;
            rn__join_current(g, m->id, leader, g->leader, 0, cb, arg);
          } else if (rn__member_update(m, p, cb, arg)) {
            rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, p->member_id);
          } else {
            rn__group_maybe_prepare_rebalance(g, "a member rejoined with new metadata");
          }
          break;
        case RN_GROUP_STABLE: {
          int leader = g->leader && strcmp(g->leader, m->id) == 0;
          if (leader || !rn__member_matches(m, p->protocols, p->nprotocols)) {
            /* A leader's JoinGroup forces a rebalance (metadata changes the
             * assignment depends on, e.g. new partitions). */
            if (rn__member_update(m, p, cb, arg))
              rn__join_fail(cb, arg, RN_ERR_COORDINATOR_NOT_AVAILABLE, p->member_id);
            else
              rn__group_maybe_prepare_rebalance(
                  g, leader ? "the leader rejoined" : "a member rejoined with new metadata");
          } else {
            rn__join_current(g, m->id, 0, g->leader, 0, cb, arg);
          }
          break;
        }
        default:
          rn__join_fail(cb, arg, RN_ERR_UNKNOWN_MEMBER_ID, p->member_id);
          break;
      }
    }
  }
  if (g->state == RN_GROUP_PREPARING_REBALANCE) rn__group_try_complete_join(g);
  rn__group_unref(g);
}

/* ---- SyncGroup -------------------------------------------------------------------------- */

typedef struct rn__sync_ctx {
  rn_group_t *g;
  int32_t generation;
  uint32_t seq;
} rn__sync_ctx_t;

static void rn__sync_stored(void *arg, rn_err_t err) {
  rn__sync_ctx_t *c = arg;
  rn_group_t *g = c->g;
  char gid_[208];
  if (g->state == RN_GROUP_COMPLETING_REBALANCE && g->generation == c->generation &&
      g->store_seq == c->seq && !g->gs->stopping) {
    if (err) {
      RN_WARN("group %s: storing the assignment failed: %s", RN__GID(g), rn_err_name(err));
      for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
        rn__member_free_next_assignment(m);
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
      }
      rn__group_propagate(g, rn__store_error(err));
      rn__group_maybe_prepare_rebalance(g, "storing the assignment failed");
    } else {
      for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
        free(m->assignment);
        m->assignment = m->next_assignment;
        m->assignment_len = m->next_assignment_len;
        m->next_assignment = NULL;
        m->next_assignment_len = 0;
      }
      rn__group_transition(g, RN_GROUP_STABLE);
      RN_INFO("group %s: generation %d is stable", RN__GID(g), g->generation);
      rn__group_propagate(g, RN_ERR_NONE);
    }
  }
  rn__group_unref(g);
  free(c);
}

void rn_group_sync(rn_groups_t *gs, const rn_sync_params_t *p, rn_sync_cb cb, void *arg) {
  if (gs->stopping) {
    rn__sync_fail(cb, arg, RN_ERR_NOT_COORDINATOR);
    return;
  }
  if (p->group_id.len <= 0) {
    rn__sync_fail(cb, arg, RN_ERR_INVALID_GROUP_ID);
    return;
  }
  rn_group_t *g = rn_groups_find(gs, p->group_id);
  if (!g) {
    rn__sync_fail(cb, arg, RN_ERR_UNKNOWN_MEMBER_ID);
    return;
  }
  rn_member_t *m = NULL;
  int16_t err = rn__validate_member(g, p->member_id, p->instance_id, &m);
  if (!err && p->generation != g->generation) err = RN_ERR_ILLEGAL_GENERATION;
  if (!err && ((p->protocol_type.len >= 0 && !rn__eq(g->protocol_type, p->protocol_type)) ||
               (p->protocol_name.len >= 0 && !rn__eq(g->protocol_name, p->protocol_name))))
    err = RN_ERR_INCONSISTENT_GROUP_PROTOCOL;
  if (!err && g->state == RN_GROUP_EMPTY) err = RN_ERR_UNKNOWN_MEMBER_ID;
  if (!err && g->state == RN_GROUP_PREPARING_REBALANCE) err = RN_ERR_REBALANCE_IN_PROGRESS;
  if (err) {
    rn__sync_fail(cb, arg, err);
    return;
  }
  if (g->state == RN_GROUP_STABLE) {
    rn__member_clear_pending_sync(m);
    rn__member_sync_answer(m, RN_ERR_REBALANCE_IN_PROGRESS); /* a stale parked one */
    m->sync_cb = cb;
    m->sync_arg = arg;
    rn__member_sync_answer(m, RN_ERR_NONE);
    rn__member_heartbeat(m);
    return;
  }
  /* CompletingRebalance: park until the leader's assignment is durable. */
  rn__member_sync_answer(m, RN_ERR_REBALANCE_IN_PROGRESS);
  m->sync_cb = cb;
  m->sync_arg = arg;
  rn__member_clear_pending_sync(m);
  if (!g->leader || strcmp(g->leader, m->id) != 0) return;
  char gid_[208];
  RN_DEBUG("group %s: assignment for generation %d received from leader %s", RN__GID(g),
           g->generation, m->id);
  rn__sync_ctx_t *c = calloc(1, sizeof *c);
  int nomem = !c;
  for (rn_member_t *x = g->members.next; x != &g->members && !nomem; x = x->next) {
    rn__member_free_next_assignment(x);
    /* The last entry for a member id wins, as in Kafka's map; members the
     * leader left out get an empty assignment. */
    for (int32_t i = p->nassignments - 1; i >= 0; i--) {
      if (!rn__eq(x->id, p->assignments[i].MemberId)) continue;
      rn_bytes_t a = p->assignments[i].Assignment;
      if (a.len > 0) {
        if (!(x->next_assignment = malloc((size_t)a.len)))
          nomem = 1;
        else {
          memcpy(x->next_assignment, a.ptr, (size_t)a.len);
          x->next_assignment_len = a.len;
        }
      }
      break;
    }
  }
  if (nomem) {
    free(c);
    for (rn_member_t *x = g->members.next; x != &g->members; x = x->next)
      rn__member_free_next_assignment(x);
    rn__group_propagate(g, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    rn__group_maybe_prepare_rebalance(g, "out of memory storing the assignment");
    return;
  }
  c->g = g;
  c->generation = g->generation;
  c->seq = ++g->store_seq;
  g->refs++;
  rn_err_t e = rn_offsets_store_group(gs, g, 1, rn__sync_stored, c);
  if (e) rn__sync_stored(c, e);
}

/* ---- Heartbeat, LeaveGroup ------------------------------------------------------------- */

int16_t rn_group_heartbeat(rn_groups_t *gs, rn_str_t group_id, rn_str_t member_id,
                           rn_str_t instance_id, int32_t generation) {
  if (gs->stopping) return RN_ERR_NOT_COORDINATOR;
  if (group_id.len <= 0) return RN_ERR_INVALID_GROUP_ID;
  rn_group_t *g = rn_groups_find(gs, group_id);
  if (!g) return RN_ERR_UNKNOWN_MEMBER_ID;
  rn_member_t *m = NULL;
  int16_t err = rn__validate_member(g, member_id, instance_id, &m);
  if (err) return err;
  if (generation != g->generation) return RN_ERR_ILLEGAL_GENERATION;
  switch (g->state) {
    case RN_GROUP_EMPTY:
      return RN_ERR_UNKNOWN_MEMBER_ID;
    case RN_GROUP_PREPARING_REBALANCE:
      rn__member_heartbeat(m);
      return RN_ERR_REBALANCE_IN_PROGRESS;
    case RN_GROUP_COMPLETING_REBALANCE:
    case RN_GROUP_STABLE:
      rn__member_heartbeat(m);
      return RN_ERR_NONE;
    default:
      return RN_ERR_COORDINATOR_NOT_AVAILABLE;
  }
}

int16_t rn_group_leave(rn_groups_t *gs, rn_str_t group_id,
                       const rn_LeaveGroupRequest_MemberIdentity *members, int32_t n,
                       int16_t *errors) {
  if (gs->stopping) return RN_ERR_NOT_COORDINATOR;
  if (group_id.len <= 0) return RN_ERR_INVALID_GROUP_ID;
  rn_group_t *g = rn_groups_find(gs, group_id);
  for (int32_t i = 0; i < n; i++) errors[i] = RN_ERR_UNKNOWN_MEMBER_ID;
  if (!g) return RN_ERR_NONE;
  g->refs++;
  char gid_[208];
  for (int32_t i = 0; i < n && g->state != RN_GROUP_DEAD; i++) {
    rn_str_t mid = members[i].MemberId;
    rn_str_t iid = members[i].GroupInstanceId;
    if (members[i].Reason.len > 0)
      RN_DEBUG("group %s: LeaveGroup reason: %.*s", RN__GID(g),
               members[i].Reason.len > 200 ? 200 : (int)members[i].Reason.len,
               (const char *)members[i].Reason.ptr);
    rn_member_t *m = NULL;
    if (mid.len <= 0) {
      /* Administrative removal by group.instance.id (KIP-345). */
      m = rn__static_find(g, iid);
      if (!m) continue;
      errors[i] = RN_ERR_NONE;
      rn__group_remove_member(g, m, "removed by group.instance.id (LeaveGroup)");
    } else if (iid.len < 0 && (m = rn__pending_find(g, mid))) {
      rn__list_del(m);
      g->npending--;
      rn__member_free(m);
      errors[i] = RN_ERR_NONE;
      rn__group_try_complete_join(g);
    } else {
      errors[i] = rn__validate_member(g, mid, iid, &m);
      if (!errors[i]) rn__group_remove_member(g, m, "the member left (LeaveGroup)");
    }
  }
  rn__group_unref(g);
  return RN_ERR_NONE;
}

/* ---- OffsetCommit --------------------------------------------------------------------- */

typedef struct rn__commit_ctx {
  rn_group_t *g;
  rn_offset_commit_t *c;
  int32_t n;
  int64_t expire_ts;
  rn_group_done_cb cb;
  void *arg;
} rn__commit_ctx_t;

static void rn__commit_stored(void *arg, rn_err_t err) {
  rn__commit_ctx_t *x = arg;
  rn_group_t *g = x->g;
  int16_t k = rn__store_error(err);
  for (int32_t i = 0; i < x->n; i++) {
    rn_offset_commit_t *c = &x->c[i];
    if (c->error) continue;
    rn_offset_t *o = rn__off_find(g, c->topic, c->partition);
    if (o) o->pending--;
    if (k) {
      c->error = k;
      if (o && !o->committed && !o->pending) rn__off_del(g, o);
    } else if (o) {
      /* G4: visible now that the record is durable. */
      rn__group_set_offset(g, c->topic, c->partition, c->offset, c->leader_epoch, c->metadata,
                           c->commit_ts, x->expire_ts);
    }
  }
  x->cb(x->arg, 0);
  rn__group_unref(g);
  free(x);
}

static void rn__commit_fail_all(rn_offset_commit_t *c, int32_t n, int16_t err) {
  for (int32_t i = 0; i < n; i++)
    if (!c[i].error) c[i].error = err;
}

int16_t rn_group_txn_commit_check(rn_groups_t *gs, rn_str_t group_id, rn_str_t member_id,
                                  rn_str_t instance_id, int32_t generation) {
  rn_group_t *g = rn_groups_find(gs, group_id);
  if (!g) return generation >= 0 ? RN_ERR_ILLEGAL_GENERATION : 0;
  if (g->state == RN_GROUP_DEAD) return RN_ERR_COORDINATOR_NOT_AVAILABLE;
  if (generation < 0 && g->state == RN_GROUP_EMPTY) return 0;
  if (instance_id.len >= 0) {
    rn_member_t *m = rn__static_find(g, instance_id);
    if (m && !rn__eq(m->id, member_id)) return RN_ERR_FENCED_INSTANCE_ID;
  }
  if (member_id.len > 0 && !rn__member_find(g, member_id)) return RN_ERR_UNKNOWN_MEMBER_ID;
  if (generation >= 0 && generation != g->generation) return RN_ERR_ILLEGAL_GENERATION;
  return 0;
}

void rn_group_commit(rn_groups_t *gs, const rn_commit_params_t *p, rn_offset_commit_t *c, int32_t n,
                     rn_group_done_cb cb, void *arg) {
  int16_t err = 0;
  rn_group_t *g = NULL;
  if (gs->stopping)
    err = RN_ERR_NOT_COORDINATOR;
  else if (p->group_id.len < 0 || rn__too_long(p->group_id))
    err = RN_ERR_INVALID_GROUP_ID;
  else if (!(g = rn_groups_find(gs, p->group_id))) {
    /* A group that does not exist only accepts commits that do not claim
     * a generation (it just stores offsets). */
    if (p->generation >= 0)
      err = RN_ERR_ILLEGAL_GENERATION;
    else if (!(g = rn__groups_get(gs, p->group_id)))
      err = RN_ERR_COORDINATOR_NOT_AVAILABLE;
  } else if (p->generation < 0 && g->state == RN_GROUP_EMPTY) {
    /* The admin client or a consumer without group management. */
  } else {
    /* Kafka's validateOffsetCommit, then the state. */
    rn_member_t *m = NULL;
    if (p->generation >= 0 || p->member_id.len > 0 || p->instance_id.len >= 0) {
      err = rn__validate_member(g, p->member_id, p->instance_id, &m);
      if (!err && p->generation != g->generation) err = RN_ERR_ILLEGAL_GENERATION;
    } else if (g->state != RN_GROUP_EMPTY) {
      err = RN_ERR_UNKNOWN_MEMBER_ID; /* only members commit to a live group */
    }
    if (!err && g->state == RN_GROUP_COMPLETING_REBALANCE) err = RN_ERR_REBALANCE_IN_PROGRESS;
    /* Stable or PreparingRebalance: a commit counts as a heartbeat (the
     * next heartbeat tells the member about the rebalance). */
    if (!err && m) rn__member_heartbeat(m);
  }
  if (err) {
    rn__commit_fail_all(c, n, err);
    cb(arg, 0);
    return;
  }
  int64_t now = rn_now_ms();
  int64_t maxmd = rn__cfg(gs, RN_BCFG_OFFSET_METADATA_MAX_BYTES);
  if (maxmd > RN__MAX_STR) maxmd = RN__MAX_STR;
  int32_t valid = 0;
  for (int32_t i = 0; i < n; i++) {
    if (c[i].error) continue;
    if (c[i].metadata.len > maxmd) {
      c[i].error = RN_ERR_OFFSET_METADATA_TOO_LARGE;
      continue;
    }
    if (c[i].commit_ts < 0) c[i].commit_ts = now;
    valid++;
  }
  rn__commit_ctx_t *x = valid ? calloc(1, sizeof *x) : NULL;
  if (!valid || !x) {
    if (valid) rn__commit_fail_all(c, n, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    cb(arg, 0);
    return;
  }
  /* Mark the partitions pending (KIP-447 RequireStable; expiry skips them). */
  for (int32_t i = 0; i < n; i++) {
    if (c[i].error) continue;
    rn_offset_t *o = rn__off_get(g, c[i].topic, c[i].partition);
    if (!o)
      c[i].error = RN_ERR_COORDINATOR_NOT_AVAILABLE;
    else
      o->pending++;
  }
  x->g = g;
  x->c = c;
  x->n = n;
  x->expire_ts = p->retention_ms >= 0 ? now + p->retention_ms : -1;
  x->cb = cb;
  x->arg = arg;
  g->refs++;
  rn_err_t e = rn_offsets_store_commits(gs, g, c, n, x->expire_ts, rn__commit_stored, x);
  if (e) rn__commit_stored(x, e);
}

/* ---- OffsetDelete, DeleteGroups ---------------------------------------------------------- */

typedef struct rn__del_ctx {
  rn_group_t *g;
  rn_group_done_cb cb;
  void *arg;
  rn_offset_delete_t *parts;
  int32_t n;
} rn__del_ctx_t;

static void rn__del_stored(void *arg, rn_err_t err) {
  rn__del_ctx_t *x = arg;
  int16_t k = rn__store_error(err);
  if (x->parts && k)
    for (int32_t i = 0; i < x->n; i++)
      if (!x->parts[i].error) x->parts[i].error = k;
  x->cb(x->arg, x->parts ? RN_ERR_NONE : k);
  rn__group_unref(x->g);
  free(x);
}

void rn_group_delete_offsets(rn_groups_t *gs, rn_str_t group_id, rn_offset_delete_t *parts,
                             int32_t n, rn_group_done_cb cb, void *arg) {
  if (gs->stopping) {
    cb(arg, RN_ERR_NOT_COORDINATOR);
    return;
  }
  if (group_id.len <= 0) {
    cb(arg, RN_ERR_INVALID_GROUP_ID);
    return;
  }
  rn_group_t *g = rn_groups_find(gs, group_id);
  if (!g) {
    cb(arg, RN_ERR_GROUP_ID_NOT_FOUND);
    return;
  }
  int consumer = g->protocol_type && strcmp(g->protocol_type, "consumer") == 0;
  if (g->state != RN_GROUP_EMPTY && !consumer) {
    cb(arg, RN_ERR_NON_EMPTY_GROUP);
    return;
  }
  const char **topics = calloc(n > 0 ? (size_t)n : 1, sizeof *topics);
  int32_t *pids = calloc(n > 0 ? (size_t)n : 1, sizeof *pids);
  rn__del_ctx_t *x = calloc(1, sizeof *x);
  if (!topics || !pids || !x) {
    free(topics);
    free(pids);
    free(x);
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    return;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < n; i++) {
    if (parts[i].error) continue;
    rn_offset_t *o = rn__off_find(g, parts[i].topic, parts[i].partition);
    if (g->state != RN_GROUP_EMPTY && rn_group_subscribed(g, parts[i].topic)) {
      parts[i].error = RN_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
      continue;
    }
    if (!o || !o->committed) continue; /* nothing to delete: NONE */
    topics[k] = o->topic;
    pids[k++] = o->partition;
  }
  if (k == 0) {
    free(topics);
    free(pids);
    free(x);
    cb(arg, RN_ERR_NONE);
    return;
  }
  x->g = g;
  x->cb = cb;
  x->arg = arg;
  x->parts = parts;
  x->n = n;
  g->refs++;
  rn_err_t e = rn_offsets_store_tombstones(gs, g, topics, pids, k, 0, rn__del_stored, x);
  /* The cache drops them now (Kafka's removeOffsets); the tombstones are
   * durable before the answer. */
  for (int32_t i = 0; i < k; i++) rn__group_remove_offset(g, rn_str_c(topics[i]), pids[i]);
  free(topics);
  free(pids);
  char gid_[208];
  RN_INFO("group %s: deleted %d committed offset(s)", RN__GID(g), k);
  if (e) rn__del_stored(x, e);
}

typedef struct rn__collect {
  const char **topics;
  int32_t *parts;
  int32_t n;
} rn__collect_t;

static void rn__collect_offset(const rn_offset_t *o, void *arg) {
  rn__collect_t *c = arg;
  c->topics[c->n] = o->topic;
  c->parts[c->n++] = o->partition;
}

void rn_groups_delete(rn_groups_t *gs, rn_str_t group_id, rn_group_done_cb cb, void *arg) {
  if (gs->stopping) {
    cb(arg, RN_ERR_NOT_COORDINATOR);
    return;
  }
  if (group_id.len < 0) {
    cb(arg, RN_ERR_INVALID_GROUP_ID);
    return;
  }
  rn_group_t *g = rn_groups_find(gs, group_id);
  if (!g) {
    cb(arg, RN_ERR_GROUP_ID_NOT_FOUND);
    return;
  }
  if (g->state != RN_GROUP_EMPTY) {
    cb(arg, RN_ERR_NON_EMPTY_GROUP);
    return;
  }
  rn__collect_t col = {calloc(g->noffs + 1, sizeof(char *)), calloc(g->noffs + 1, sizeof(int32_t)),
                       0};
  rn__del_ctx_t *x = calloc(1, sizeof *x);
  if (!col.topics || !col.parts || !x) {
    free(col.topics);
    free(col.parts);
    free(x);
    cb(arg, RN_ERR_COORDINATOR_NOT_AVAILABLE);
    return;
  }
  rn_group_offsets_foreach(g, rn__collect_offset, &col);
  x->g = g;
  x->cb = cb;
  x->arg = arg;
  g->refs++;
  char gid_[208];
  RN_INFO("group %s: deleted (%d committed offsets)", RN__GID(g), col.n);
  rn_err_t e =
      rn_offsets_store_tombstones(gs, g, col.topics, col.parts, col.n, 1, rn__del_stored, x);
  free(col.topics);
  free(col.parts);
  rn__group_remove(g);
  if (e) rn__del_stored(x, e);
}

/* ---- expiry (KIP-211) ------------------------------------------------------------------- */

typedef struct rn__expire_ctx {
  int64_t now, retention;
  rn_group_t *g;
  int mode; /* 1 all (base = state time or commit), 2 unsubscribed only, 3 all by commit */
  rn__collect_t col;
} rn__expire_ctx_t;

static void rn__expire_offset(const rn_offset_t *o, void *arg) {
  rn__expire_ctx_t *x = arg;
  if (o->pending) return;
  if (x->mode == 2 && rn_group_subscribed(x->g, rn_str_c(o->topic))) return;
  int64_t base = o->commit_ts;
  if (x->mode == 1 && x->g->state_ts >= 0) base = x->g->state_ts;
  int expired = o->expire_ts >= 0 ? x->now >= o->expire_ts : x->now - base >= x->retention;
  if (!expired) return;
  x->col.topics[x->col.n] = o->topic;
  x->col.parts[x->col.n++] = o->partition;
}

static void rn__collect_group(rn_group_t *g, void *arg) {
  rn_group_t ***v = arg;
  *(*v)++ = g;
}

int rn_groups_expire(rn_groups_t *gs, int64_t now_ms) {
  if (gs->stopping || !gs->ngroups) return 0;
  rn_group_t **all = calloc(gs->ngroups, sizeof *all), **p = all;
  if (!all) return 0;
  size_t ng = gs->ngroups;
  rn_groups_foreach(gs, rn__collect_group, &p);
  int total = 0;
  int64_t retention = rn__cfg(gs, RN_BCFG_OFFSETS_RETENTION_MINUTES) * 60000;
  for (size_t i = 0; i < ng; i++) {
    rn_group_t *g = all[i];
    rn__expire_ctx_t x = {now_ms, retention, g, 0, {NULL, NULL, 0}};
    if (g->protocol_type && g->state == RN_GROUP_EMPTY)
      x.mode = 1;
    else if (g->protocol_type && strcmp(g->protocol_type, "consumer") == 0 && g->subs_known &&
             g->state == RN_GROUP_STABLE)
      x.mode = 2;
    else if (!g->protocol_type)
      x.mode = 3;
    if (x.mode && g->noffs) {
      x.col.topics = calloc(g->noffs, sizeof(char *));
      x.col.parts = calloc(g->noffs, sizeof(int32_t));
      if (x.col.topics && x.col.parts) rn_group_offsets_foreach(g, rn__expire_offset, &x);
    }
    /* Dead once every entry (committed or pending) is expiring. */
    int dead = g->state == RN_GROUP_EMPTY && g->npending == 0 && g->noffs == (uint32_t)x.col.n;
    if (x.col.n || dead) {
      char gid_[208];
      if (x.col.n) RN_INFO("group %s: %d committed offset(s) expired", RN__GID(g), x.col.n);
      /* Tombstones first (their names point into the cache), then the
       * cache; a group that ever stored metadata gets a group tombstone. */
      int with_group = dead && (g->protocol_type || g->generation > 0);
      if (x.col.n || with_group) {
        rn_err_t e = rn_offsets_store_tombstones(gs, g, x.col.topics, x.col.parts, x.col.n,
                                                 with_group, NULL, NULL);
        if (e) RN_WARN("group %s: cannot write expiry tombstones: %s", RN__GID(g), rn_err_name(e));
      }
      for (int32_t k = 0; k < x.col.n; k++)
        rn__group_remove_offset(g, rn_str_c(x.col.topics[k]), x.col.parts[k]);
      total += x.col.n;
      if (dead) {
        RN_INFO("group %s: empty with no offsets; removed", RN__GID(g));
        rn__group_remove(g);
      }
    }
    free(x.col.topics);
    free(x.col.parts);
  }
  free(all);
  return total;
}

typedef struct rn__topic_ctx {
  const char *topic;
  rn__collect_t col;
} rn__topic_ctx_t;

static void rn__collect_topic(const rn_offset_t *o, void *arg) {
  rn__topic_ctx_t *x = arg;
  if (strcmp(o->topic, x->topic) == 0 && !o->pending) {
    x->col.topics[x->col.n] = o->topic;
    x->col.parts[x->col.n++] = o->partition;
  }
}

int rn_groups_topic_deleted(rn_groups_t *gs, const char *topic) {
  if (!gs || gs->stopping || !gs->ngroups) return 0;
  int total = 0;
  for (size_t i = 0; i < gs->nbuckets; i++)
    for (rn_group_t *g = gs->buckets[i]; g; g = g->next) {
      if (!g->noffs) continue;
      rn__topic_ctx_t x = {
          topic, {calloc(g->noffs, sizeof(char *)), calloc(g->noffs, sizeof(int32_t)), 0}};
      if (x.col.topics && x.col.parts) rn_group_offsets_foreach(g, rn__collect_topic, &x);
      if (x.col.n) {
        char gid_[208];
        rn_err_t e =
            rn_offsets_store_tombstones(gs, g, x.col.topics, x.col.parts, x.col.n, 0, NULL, NULL);
        if (e)
          RN_WARN("group %s: cannot write tombstones for deleted topic %s: %s", RN__GID(g), topic,
                  rn_err_name(e));
        for (int32_t k = 0; k < x.col.n; k++)
          rn__group_remove_offset(g, rn_str_c(x.col.topics[k]), x.col.parts[k]);
        total += x.col.n;
      }
      free(x.col.topics);
      free(x.col.parts);
    }
  if (total) RN_INFO("removed %d committed offset(s) of deleted topic %s", total, topic);
  return total;
}

/* ---- replay support (offsets.c) ----------------------------------------------------------- */

void rn__group_reset(rn_group_t *g) {
  for (rn_member_t *m = g->members.next, *n; m != &g->members; m = n) {
    n = m->next;
    rn__member_join_error(m, RN_ERR_NOT_COORDINATOR, rn_str_c(m->id));
    rn__member_sync_answer(m, RN_ERR_NOT_COORDINATOR);
    rn__list_del(m);
    rn__member_free(m);
  }
  g->nmembers = 0;
  g->nawaiting_join = 0;
  g->npending_sync = 0;
  free(g->protocol_type);
  free(g->protocol_name);
  free(g->leader);
  g->protocol_type = g->protocol_name = g->leader = NULL;
  g->generation = 0;
  rn__group_clear_subs(g);
}

rn_member_t *rn__group_load_member(rn_group_t *g, rn_str_t member_id, rn_str_t instance_id,
                                   rn_str_t client_id, rn_str_t client_host,
                                   int32_t rebalance_timeout_ms, int32_t session_timeout_ms,
                                   rn_str_t protocol, rn_bytes_t subscription,
                                   rn_bytes_t assignment) {
  rn_member_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->group = g;
  m->session_timeout_ms = session_timeout_ms;
  m->rebalance_timeout_ms = rebalance_timeout_ms > 0 ? rebalance_timeout_ms : session_timeout_ms;
  rn_JoinGroupRequest_JoinGroupRequestProtocol pr = {protocol.len < 0 ? RN_STR_EMPTY : protocol,
                                                     subscription};
  if (rn__strset(&m->id, member_id.len < 0 ? RN_STR_EMPTY : member_id) ||
      rn__strset(&m->instance_id, instance_id) ||
      rn__strset(&m->client_id, client_id.len < 0 ? RN_STR_EMPTY : client_id) ||
      rn__strset(&m->client_host, client_host.len < 0 ? RN_STR_EMPTY : client_host) ||
      rn__member_set_protocols(m, &pr, protocol.len < 0 ? 0 : 1)) {
    rn__member_free(m);
    return NULL;
  }
  if (assignment.len > 0) {
    m->assignment = malloc((size_t)assignment.len);
    if (!m->assignment) {
      rn__member_free(m);
      return NULL;
    }
    memcpy(m->assignment, assignment.ptr, (size_t)assignment.len);
    m->assignment_len = assignment.len;
  }
  rn__list_add(&g->members, m);
  g->nmembers++;
  return m;
}

static void rn__group_loaded(rn_group_t *g, void *arg) {
  rn_group_t ***v = arg;
  if (g->nmembers > 0) {
    g->state = RN_GROUP_STABLE;
    if (!g->leader || !rn__member_find(g, rn_str_c(g->leader))) {
      free(g->leader);
      g->leader = strdup(g->members.next->id);
    }
    rn__group_compute_subs(g);
    for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) rn__member_heartbeat(m);
  } else {
    g->state = RN_GROUP_EMPTY;
    if (!g->protocol_type && g->generation == 0 && !rn__group_has_offsets(g)) *(*v)++ = g;
  }
}

void rn__groups_loaded(rn_groups_t *gs) {
  if (!gs->ngroups) return;
  rn_group_t **bare = calloc(gs->ngroups, sizeof *bare), **p = bare;
  if (!bare) return;
  rn_groups_foreach(gs, rn__group_loaded, &p);
  for (rn_group_t **q = bare; q < p; q++) rn__group_remove(*q);
  free(bare);
}

/* ---- life cycle -------------------------------------------------------------------------- */

rn_err_t rn_groups_init(rn_groups_t *gs, struct rn_broker *b, rn_groups_append_fn append) {
  memset(gs, 0, sizeof *gs);
  gs->b = b;
  gs->loop = b->loop;
  gs->append = append;
  gs->nparts = 1;
  return 0;
}

static void rn__group_stop(rn_group_t *g, void *arg) {
  (void)arg;
  for (rn_member_t *m = g->members.next; m != &g->members; m = m->next) {
    rn__member_join_error(m, RN_ERR_NOT_COORDINATOR, rn_str_c(m->id));
    rn__member_sync_answer(m, RN_ERR_NOT_COORDINATOR);
  }
  rn__group_close_timer(g);
}

void rn_groups_stop(struct rn_broker *b) {
  rn_groups_t *gs = b->groups;
  if (!gs || gs->stopping) return;
  gs->stopping = 1;
  rn_groups_foreach(gs, rn__group_stop, NULL);
  if (gs->timer_open) {
    uv_timer_stop(&gs->expire_timer);
    uv_close((uv_handle_t *)&gs->expire_timer, NULL);
    gs->timer_open = 0;
  }
}

void rn_groups_free(rn_groups_t *gs) {
  for (size_t i = 0; i < gs->nbuckets; i++)
    for (rn_group_t *g = gs->buckets[i], *n; g; g = n) {
      n = g->next;
      rn__group_unref(g);
    }
  free(gs->buckets);
  gs->buckets = NULL;
  gs->nbuckets = gs->ngroups = 0;
  rn_offsets_pool_free(gs);
}
