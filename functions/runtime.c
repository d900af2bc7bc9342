/*
 * runtime.c: the stream-function task (see runtime.h for the contract and
 * the semantics).
 *
 * How the pieces fit:
 *   - Records: feed_batch() iterates a batch (rn_batch_iter_*), binds each
 *     value to the lazy JSON scanner and runs the plan's mode: map_record()
 *     for filter/projection, wmap_record() for window TVF rows, and
 *     agg_record() for window aggregates (also SESSION window TVF rows,
 *     which are held in their session until it fires).
 *   - State: a window (win_t) is a [start, end) with a list of groups;
 *     aligned windows (TUMBLE, HOP, CUMULATE) are shared by all keys,
 *     SESSION windows belong to one group. Groups (group_t: key values and
 *     accumulators) live in one open-addressing table (gtab_t) hashed by
 *     XXH3 of window bounds and keys (SESSION: keys only, so the sessions
 *     of a key are found together), compared with rn_fn_value_same().
 *   - Time: each partition keeps its max event time; recompute_wm() takes
 *     the minimum over non-idle partitions after each batch and advance,
 *     then fire() emits due windows in (end, start, creation) order and
 *     purge() frees windows past allowed lateness.
 *   - Output text is built in two reused buffers (key, value).
 */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fn_time.h"
#include "json_scan.h"

#define WM_NONE INT64_MIN
#define TIME_UNKNOWN INT64_MIN
/* Event times beyond +-2^62 ms (146 million years) are refused, so window
   arithmetic cannot overflow. */
#define TS_LIMIT ((int64_t)1 << 62)
/* Most windows one record may belong to (HOP size/slide, CUMULATE size/step). */
#define MAX_WINDOWS_PER_RECORD 100000

/* ---- state ------------------------------------------------------------------ */

typedef struct dset { /* COUNT(DISTINCT) values, owned */
  rn_fn_value_t *v;
  uint64_t *h;
  uint32_t cap, n; /* cap is a power of two; slot empty when v[i].type == ANY */
} dset_t;

/*
 * An aggregate's accumulator. Groups store only the prefix their
 * aggregate uses (acc_level()): COUNT(*) and COUNT(x) the count (level 0),
 * SUM and AVG also the value (level 1), the others everything (level 2),
 * so a group of COUNT/SUM/AVG costs 72 bytes of accumulators, not 192.
 * Code for a kind touches only the fields of its level.
 */
typedef struct acc {
  int64_t n;       /* rows or non-NULL values counted (level 0) */
  rn_fn_value_t v; /* SUM; MIN/MAX/FIRST/LAST value (NULL until set) (level 1) */
  int64_t seq;     /* FIRST/LAST_VALUE: processing sequence of v (level 2) */
  char *buf;       /* owned text of v when it is a string */
  uint32_t cap;
  dset_t *set;
} acc_t;

#define ACC_LEVEL0_SIZE offsetof(acc_t, v)
#define ACC_LEVEL1_SIZE offsetof(acc_t, seq)

typedef struct win win_t;

/*
 * A group: this header, then nkeys key values, then the accumulators
 * (task->acc_off[]), then the bytes of string keys (the key values point
 * there). Groups are carved from their window's chunks (win_alloc()) and
 * freed with the window: no allocation per group in steady state.
 */
typedef struct group {
  uint64_t hash;
  win_t *win;
  struct group *wnext; /* the window's groups, in creation order */
  uint8_t dirty;       /* changed since last emitted */
} group_t;

/* Memory of a window's groups: chunks bump-allocated, freed together. */
typedef struct chunk {
  struct chunk *next;
  size_t cap;
} chunk_t;

struct win {
  int64_t start, end;
  uint64_t order; /* creation sequence, for a stable emission order */
  uint32_t idx;   /* position in task->wins */
  uint32_t hidx;  /* position in task->heap */
  uint8_t fired;
  group_t *head, *tail;
  chunk_t *chunks; /* newest first; groups live here */
  size_t chunk_used;
  /* SESSION window TVF: rows held until the session fires, serialised as
     i64 ts, i32 partition, i64 offset, i32 klen, key, i32 vlen, value. */
  char *rows;
  size_t rows_len, rows_cap;
  uint32_t nrows;
};

/* A table slot keeps the group's hash, so probing a chain does not touch
   the groups (each a likely cache miss) until a hash matches. */
typedef struct gslot {
  uint64_t hash;
  group_t *g; /* NULL: empty */
} gslot_t;

typedef struct gtab {
  gslot_t *slot;
  uint32_t cap, n; /* cap is a power of two */
} gtab_t;

typedef struct part {
  int64_t max_ts;
  int64_t last_active; /* processing time of the last batch, or TIME_UNKNOWN */
  uint8_t seen, idle;
} part_t;

typedef struct buf {
  char *p;
  size_t len, cap;
  int oom;
} buf_t;

struct rn_fn_task {
  const rn_fn_plan_t *plan;
  rn_fn_task_opts_t opts;
  rn_fn_sink_fn sink;
  void *opaque;

  rn_fn_eval_t ev;
  rn_fn_json_paths_t paths;
  rn_fn_json_val_t *vals;
  rn_fn_json_record_t jr;
  rn_batch_iter_t it;
  /* Field values already decoded for the bound record (fgen[slot] == gen):
     numbers are parsed once even when several expressions read them. */
  rn_fn_value_t *fcache;
  uint32_t *fgen;
  uint32_t gen;

  /* Group keys: the plan's GROUP BY keys (aggregates) or the SESSION
     PARTITION BY keys (session window TVF). */
  const rn_fn_expr_t **kexpr;
  uint32_t nkeys;
  uint32_t naggs;
  rn_fn_value_t *kv;  /* current record's key values */
  rn_fn_value_t *av;  /* current record's aggregate arguments */
  rn_fn_value_t *res; /* aggregate results of the group being emitted */
  uint8_t args_use_window;
  uint8_t session_rows; /* SESSION window TVF: hold rows */
  size_t group_size;    /* header, keys and accumulators (key text extra) */
  uint32_t *acc_off;    /* per aggregate: offset of its accumulator in a group */
  uint8_t *acc_lvl;     /* per aggregate: acc_level() */

  /* Precomputed JSON member prefixes: "\"name\":". */
  char **out_names;
  char **key_names;

  gtab_t tab;
  win_t **wins;
  uint32_t nwins, wcap;
  /* Every window, as a min-heap on win_due(): firing and purging look at
     due windows only, not at all of them (SESSION has one per key). */
  win_t **heap;
  uint32_t hn;
  uint64_t win_order;

  part_t *parts;
  int32_t nparts;

  int64_t wm;
  int64_t now;
  int64_t next_early;
  uint64_t seq;

  buf_t kbuf, vbuf;
  win_t **fire_list;
  uint32_t fire_cap;

  rn_fn_task_stats_t st;
  uint64_t state_bytes;
};

/* ---- small helpers ------------------------------------------------------------ */

static int64_t sat_sub(int64_t a, int64_t b) {
  if (a == WM_NONE) return WM_NONE;
  if (b > 0 && a < INT64_MIN + b) return INT64_MIN;
  return a - b;
}

static int buf_reserve(buf_t *b, size_t more) {
  if (b->oom) return -1;
  if (b->len + more + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void buf_put(buf_t *b, const char *s, size_t n) {
  if (buf_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void buf_value(buf_t *b, const rn_fn_value_t *v) {
  for (;;) {
    if (buf_reserve(b, 64)) return;
    size_t room = b->cap - b->len;
    size_t need = rn_fn_value_to_json(v, b->p + b->len, room);
    if (need < room) {
      b->len += need;
      return;
    }
    if (buf_reserve(b, need + 1)) return;
  }
}

/* "\"name\":" for a member name, escaped as JSON. */
static char *member_prefix(const char *name) {
  rn_fn_value_t v = {.type = RN_FN_T_STRING};
  v.s.p = name;
  v.s.n = (uint32_t)strlen(name);
  size_t need = rn_fn_value_to_json(&v, NULL, 0);
  char *p = malloc(need + 2);
  if (!p) return NULL;
  rn_fn_value_to_json(&v, p, need + 1);
  p[need] = ':';
  p[need + 1] = '\0';
  return p;
}

static int is_text(rn_fn_type_t t) {
  return t == RN_FN_T_STRING || t == RN_FN_T_JSON;
}

/* Copies v into an owned value (strings malloc'd). Returns 0 or -1. */
static int value_own(rn_fn_value_t *dst, const rn_fn_value_t *v) {
  *dst = *v;
  if (is_text(v->type)) {
    char *p = malloc(v->s.n ? v->s.n : 1);
    if (!p) return -1;
    if (v->s.n) memcpy(p, v->s.p, v->s.n);
    dst->s.p = p;
  }
  return 0;
}

static void value_unown(rn_fn_value_t *v) {
  if (is_text(v->type)) free((void *)v->s.p);
  v->type = RN_FN_T_NULL;
}

/* Stores v in an accumulator, reusing its text buffer. */
static int acc_store(acc_t *a, const rn_fn_value_t *v) {
  a->v = *v;
  if (is_text(v->type)) {
    if (v->s.n > a->cap || !a->buf) {
      uint32_t cap = v->s.n < 16 ? 16 : v->s.n;
      char *p = realloc(a->buf, cap);
      if (!p) {
        a->v.type = RN_FN_T_NULL;
        return -1;
      }
      a->buf = p;
      a->cap = cap;
    }
    if (v->s.n) memcpy(a->buf, v->s.p, v->s.n);
    a->v.s.p = a->buf;
  }
  return 0;
}

/* ---- distinct sets ----------------------------------------------------------- */

static dset_t *dset_new(void) {
  dset_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cap = 8;
  s->v = malloc(s->cap * sizeof *s->v);
  s->h = malloc(s->cap * sizeof *s->h);
  if (!s->v || !s->h) {
    free(s->v);
    free(s->h);
    free(s);
    return NULL;
  }
  for (uint32_t i = 0; i < s->cap; i++) s->v[i].type = RN_FN_T_ANY;
  return s;
}

static void dset_free(dset_t *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->cap; i++)
    if (s->v[i].type != RN_FN_T_ANY) value_unown(&s->v[i]);
  free(s->v);
  free(s->h);
  free(s);
}

static int dset_grow(dset_t *s) {
  uint32_t ncap = s->cap * 2;
  rn_fn_value_t *nv = malloc(ncap * sizeof *nv);
  uint64_t *nh = malloc(ncap * sizeof *nh);
  if (!nv || !nh) {
    free(nv);
    free(nh);
    return -1;
  }
  for (uint32_t i = 0; i < ncap; i++) nv[i].type = RN_FN_T_ANY;
  for (uint32_t i = 0; i < s->cap; i++) {
    if (s->v[i].type == RN_FN_T_ANY) continue;
    uint32_t j = (uint32_t)s->h[i] & (ncap - 1);
    while (nv[j].type != RN_FN_T_ANY) j = (j + 1) & (ncap - 1);
    nv[j] = s->v[i];
    nh[j] = s->h[i];
  }
  free(s->v);
  free(s->h);
  s->v = nv;
  s->h = nh;
  s->cap = ncap;
  return 0;
}

/* Adds v (borrowed; copied when new). Returns 1 added, 0 present, -1 OOM. */
static int dset_add(dset_t *s, const rn_fn_value_t *v) {
  uint64_t h = rn_fn_value_hash(v, 0x44u);
  uint32_t j = (uint32_t)h & (s->cap - 1);
  while (s->v[j].type != RN_FN_T_ANY) {
    if (s->h[j] == h && rn_fn_value_same(&s->v[j], v)) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  if (value_own(&s->v[j], v)) {
    s->v[j].type = RN_FN_T_ANY;
    return -1;
  }
  s->h[j] = h;
  s->n++;
  if (s->n * 4 >= s->cap * 3 && dset_grow(s)) return -1;
  return 1;
}

/* ---- group table ---------------------------------------------------------------- */

static int gtab_grow(gtab_t *t) {
  uint32_t ncap = t->cap ? t->cap * 2 : 64;
  gslot_t *ns = calloc(ncap, sizeof *ns);
  if (!ns) return -1;
  for (uint32_t i = 0; i < t->cap; i++) {
    if (!t->slot[i].g) continue;
    uint32_t j = (uint32_t)t->slot[i].hash & (ncap - 1);
    while (ns[j].g) j = (j + 1) & (ncap - 1);
    ns[j] = t->slot[i];
  }
  free(t->slot);
  t->slot = ns;
  t->cap = ncap;
  return 0;
}

static int gtab_insert(gtab_t *t, group_t *g) {
  if ((t->n + 1) * 4 >= t->cap * 3 && gtab_grow(t)) return -1;
  uint32_t j = (uint32_t)g->hash & (t->cap - 1);
  while (t->slot[j].g) j = (j + 1) & (t->cap - 1);
  t->slot[j].hash = g->hash;
  t->slot[j].g = g;
  t->n++;
  return 0;
}

/* Removes g (backward-shift deletion keeps probe chains intact). */
static void gtab_remove(gtab_t *t, group_t *g) {
  if (!t->cap) return;
  uint32_t mask = t->cap - 1, j = (uint32_t)g->hash & mask;
  while (t->slot[j].g && t->slot[j].g != g) j = (j + 1) & mask;
  if (!t->slot[j].g) return;
  t->slot[j].g = NULL;
  t->n--;
  uint32_t i = j;
  for (;;) {
    i = (i + 1) & mask;
    if (!t->slot[i].g) break;
    uint32_t home = (uint32_t)t->slot[i].hash & mask;
    /* The entry may move to j when j lies cyclically in [home, i). */
    if (((i - home) & mask) >= ((i - j) & mask)) {
      t->slot[j] = t->slot[i];
      t->slot[i].g = NULL;
      j = i;
    }
  }
}

static inline rn_fn_value_t *gkeys(group_t *g) {
  return (rn_fn_value_t *)(g + 1);
}

static inline acc_t *gacc(const rn_fn_task_t *t, group_t *g, uint32_t i) {
  return (acc_t *)((char *)g + t->acc_off[i]);
}

/* Which prefix of acc_t an aggregate uses (see acc_t). */
static int acc_level(const rn_fn_agg_t *ag) {
  switch (ag->kind) {
    case RN_FN_AGG_COUNT_STAR:
      return 0;
    case RN_FN_AGG_COUNT:
      return ag->distinct ? 2 : 0;
    case RN_FN_AGG_SUM:
    case RN_FN_AGG_AVG:
      return 1;
    default:
      return 2;
  }
}

static int keys_same(const rn_fn_task_t *t, group_t *g, const rn_fn_value_t *kv) {
  const rn_fn_value_t *gk = gkeys(g);
  for (uint32_t i = 0; i < t->nkeys; i++)
    if (!rn_fn_value_same(&gk[i], &kv[i])) return 0;
  return 1;
}

static uint64_t hash_keys(const rn_fn_task_t *t, const rn_fn_value_t *kv, uint64_t seed) {
  uint64_t h = seed;
  for (uint32_t i = 0; i < t->nkeys; i++) h = rn_fn_value_hash(&kv[i], h);
  return h;
}

static uint64_t hash_window(int64_t start, int64_t end) {
  int64_t b[2] = {start, end};
  return XXH3_64bits(b, sizeof b);
}

/* ---- windows and groups ------------------------------------------------------------ */

/* When a window next needs attention: an open window fires at end - 1, a
   fired one is purged past allowed lateness (see fire()). */
static inline int64_t win_due(const rn_fn_task_t *t, const win_t *w) {
  return w->fired ? sat_sub(w->end - 1, -t->opts.allowed_lateness_ms) : w->end - 1;
}

#define HEAP_NONE UINT32_MAX

/* The heap: hn windows (heap[i]->hidx == i); a window out of it has
   hidx HEAP_NONE (only while fire() emits it). */
static inline void heap_set(rn_fn_task_t *t, uint32_t i, win_t *w) {
  t->heap[i] = w;
  w->hidx = i;
}

static void heap_up(rn_fn_task_t *t, uint32_t i) {
  win_t *w = t->heap[i];
  int64_t k = win_due(t, w);
  while (i) {
    uint32_t p = (i - 1) / 2;
    if (win_due(t, t->heap[p]) <= k) break;
    heap_set(t, i, t->heap[p]);
    i = p;
  }
  heap_set(t, i, w);
}

static void heap_down(rn_fn_task_t *t, uint32_t i) {
  win_t *w = t->heap[i];
  int64_t k = win_due(t, w);
  uint32_t n = t->hn;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    int64_t kc = win_due(t, t->heap[c]);
    if (c + 1 < n) {
      int64_t k2 = win_due(t, t->heap[c + 1]);
      if (k2 < kc) {
        c++;
        kc = k2;
      }
    }
    if (kc >= k) break;
    heap_set(t, i, t->heap[c]);
    i = c;
  }
  heap_set(t, i, w);
}

/* Adds w (the heap has room: its capacity follows the window array's). */
static void heap_insert(rn_fn_task_t *t, win_t *w) {
  heap_set(t, t->hn++, w);
  heap_up(t, w->hidx);
}

static void heap_remove(rn_fn_task_t *t, win_t *w) {
  uint32_t i = w->hidx;
  if (i == HEAP_NONE) return;
  w->hidx = HEAP_NONE;
  win_t *last = t->heap[--t->hn];
  if (last == w) return;
  heap_set(t, i, last);
  heap_up(t, i);
  heap_down(t, last->hidx);
}

/* Restores the heap order after w's due time changed. */
static void heap_update(rn_fn_task_t *t, win_t *w) {
  if (w->hidx == HEAP_NONE) return;
  heap_up(t, w->hidx);
  heap_down(t, w->hidx);
}

static win_t *win_new(rn_fn_task_t *t, int64_t start, int64_t end) {
  if (t->nwins == t->wcap) {
    uint32_t ncap = t->wcap ? t->wcap * 2 : 16;
    win_t **nw = realloc(t->wins, ncap * sizeof *nw);
    if (!nw) return NULL;
    t->wins = nw;
    win_t **nh = realloc(t->heap, ncap * sizeof *nh);
    if (!nh) return NULL; /* wcap unchanged: the next call retries both */
    t->heap = nh;
    t->wcap = ncap;
  }
  win_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->start = start;
  w->end = end;
  w->order = t->win_order++;
  w->idx = t->nwins;
  t->wins[t->nwins++] = w;
  heap_insert(t, w);
  t->state_bytes += sizeof *w;
  return w;
}

/* Releases what a group owns outside its window's chunks. */
static void group_release(rn_fn_task_t *t, group_t *g) {
  for (uint32_t i = 0; i < t->naggs; i++) {
    if (t->acc_lvl[i] < 2) continue;
    acc_t *a = gacc(t, g, i);
    free(a->buf);
    dset_free(a->set);
  }
  t->st.groups--;
}

/* Frees a window with its groups (removed from the table). */
static void win_free(rn_fn_task_t *t, win_t *w) {
  for (group_t *g = w->head, *n; g; g = n) {
    n = g->wnext;
    gtab_remove(&t->tab, g);
    group_release(t, g);
  }
  for (chunk_t *c = w->chunks, *n; c; c = n) {
    n = c->next;
    t->state_bytes -= sizeof *c + c->cap;
    free(c);
  }
  t->state_bytes -= sizeof *w + w->rows_cap;
  free(w->rows);
  heap_remove(t, w);
  uint32_t i = w->idx;
  t->wins[i] = t->wins[--t->nwins];
  t->wins[i]->idx = i;
  free(w);
}

static win_t *find_aligned(rn_fn_task_t *t, int64_t start, int64_t end) {
  for (uint32_t i = t->nwins; i-- > 0;)
    if (t->wins[i]->start == start && t->wins[i]->end == end) return t->wins[i];
  return NULL;
}

#define CHUNK_MAX (64u * 1024)

/*
 * n zeroed bytes (a multiple of 8) from window w's chunks. The first chunk
 * holds exactly one group (a SESSION window has one), later ones double
 * up to CHUNK_MAX. Returns NULL when out of memory.
 */
static void *win_alloc(rn_fn_task_t *t, win_t *w, size_t n) {
  chunk_t *c = w->chunks;
  if (!c || w->chunk_used + n > c->cap) {
    size_t cap = c ? c->cap * 2 : n;
    if (cap > CHUNK_MAX) cap = CHUNK_MAX;
    if (cap < n) cap = n;
    chunk_t *nc = malloc(sizeof *nc + cap);
    if (!nc) return NULL;
    nc->next = c;
    nc->cap = cap;
    w->chunks = nc;
    w->chunk_used = 0;
    t->state_bytes += sizeof *nc + cap;
    c = nc;
  }
  void *p = (char *)(c + 1) + w->chunk_used;
  w->chunk_used += n;
  memset(p, 0, n);
  return p;
}

/* A new group with copies of kv (key text in the group) in window w. */
static group_t *group_new(rn_fn_task_t *t, win_t *w, uint64_t hash, const rn_fn_value_t *kv) {
  size_t text = 0;
  for (uint32_t i = 0; i < t->nkeys; i++)
    if (is_text(kv[i].type)) text += kv[i].s.n;
  size_t size = (t->group_size + text + 7) & ~(size_t)7;
  if (t->tab.n + 1 > UINT32_MAX / 2) return NULL;
  /* Grow the table first, so a failure leaves nothing half-made. */
  if ((t->tab.n + 1) * 4 >= t->tab.cap * 3 && gtab_grow(&t->tab)) return NULL;
  group_t *g = win_alloc(t, w, size);
  if (!g) return NULL;
  g->hash = hash;
  rn_fn_value_t *gk = gkeys(g);
  char *o = (char *)g + t->group_size;
  for (uint32_t i = 0; i < t->nkeys; i++) {
    gk[i] = kv[i];
    if (is_text(kv[i].type)) {
      if (kv[i].s.n) memcpy(o, kv[i].s.p, kv[i].s.n);
      gk[i].s.p = o;
      o += kv[i].s.n;
    }
  }
  for (uint32_t i = 0; i < t->naggs; i++)
    if (t->acc_lvl[i] >= 1) gacc(t, g, i)->v.type = RN_FN_T_NULL;
  gtab_insert(&t->tab, g); /* cannot fail: the table has room */
  g->win = w;
  if (w->tail)
    w->tail->wnext = g;
  else
    w->head = g;
  w->tail = g;
  t->st.groups++;
  return g;
}

/* ---- aggregates ---------------------------------------------------------------------- */

static void num_add(acc_t *a, const rn_fn_value_t *x) {
  if (a->v.type == RN_FN_T_NULL) {
    a->v = *x;
  } else if (a->v.type == RN_FN_T_BIGINT && x->type == RN_FN_T_BIGINT) {
    a->v.i = (int64_t)((uint64_t)a->v.i + (uint64_t)x->i);
  } else {
    double s = a->v.type == RN_FN_T_BIGINT ? (double)a->v.i : a->v.d;
    s += x->type == RN_FN_T_BIGINT ? (double)x->i : x->d;
    a->v.type = RN_FN_T_DOUBLE;
    a->v.d = s;
  }
}

static int acc_add(rn_fn_task_t *t, const rn_fn_agg_t *ag, acc_t *a, const rn_fn_value_t *x) {
  rn_fn_value_t num;
  int cmp;
  switch (ag->kind) {
    case RN_FN_AGG_COUNT_STAR:
      a->n++;
      return 0;
    case RN_FN_AGG_COUNT:
      if (x->type == RN_FN_T_NULL) return 0;
      if (ag->distinct) {
        if (!a->set && !(a->set = dset_new())) return -1;
        uint32_t before = a->set->cap;
        int rc = dset_add(a->set, x);
        if (rc < 0) return -1;
        if (rc > 0) {
          t->state_bytes += sizeof(rn_fn_value_t) + (is_text(x->type) ? x->s.n : 0);
          if (a->set->cap != before) t->state_bytes += (a->set->cap - before) * 24;
        }
        return 0;
      }
      a->n++;
      return 0;
    case RN_FN_AGG_SUM:
    case RN_FN_AGG_AVG:
      if (rn_fn_value_as_number(x, &num)) return 0;
      a->n++;
      num_add(a, &num);
      return 0;
    case RN_FN_AGG_MIN:
    case RN_FN_AGG_MAX:
      if (x->type == RN_FN_T_NULL) return 0;
      if (a->v.type == RN_FN_T_NULL) return acc_store(a, x);
      if (rn_fn_value_compare(x, &a->v, &cmp)) return 0;
      if ((ag->kind == RN_FN_AGG_MIN && cmp < 0) || (ag->kind == RN_FN_AGG_MAX && cmp > 0))
        return acc_store(a, x);
      return 0;
    case RN_FN_AGG_FIRST_VALUE:
      if (x->type == RN_FN_T_NULL || a->v.type != RN_FN_T_NULL) return 0;
      a->seq = (int64_t)t->seq;
      return acc_store(a, x);
    case RN_FN_AGG_LAST_VALUE:
      if (x->type == RN_FN_T_NULL) return 0;
      a->seq = (int64_t)t->seq;
      return acc_store(a, x);
  }
  return 0;
}

/* Merges src into dst (SESSION windows merging). */
static int acc_merge(const rn_fn_agg_t *ag, acc_t *dst, acc_t *src) {
  int cmp;
  switch (ag->kind) {
    case RN_FN_AGG_COUNT_STAR:
      dst->n += src->n;
      return 0;
    case RN_FN_AGG_COUNT:
      if (!ag->distinct) {
        dst->n += src->n;
        return 0;
      }
      if (!src->set) return 0;
      if (!dst->set) {
        dst->set = src->set;
        src->set = NULL;
        return 0;
      }
      for (uint32_t i = 0; i < src->set->cap; i++)
        if (src->set->v[i].type != RN_FN_T_ANY && dset_add(dst->set, &src->set->v[i]) < 0)
          return -1;
      return 0;
    case RN_FN_AGG_SUM:
    case RN_FN_AGG_AVG:
      if (src->v.type == RN_FN_T_NULL) return 0;
      dst->n += src->n;
      num_add(dst, &src->v);
      return 0;
    case RN_FN_AGG_MIN:
    case RN_FN_AGG_MAX:
      if (src->v.type == RN_FN_T_NULL) return 0;
      if (dst->v.type == RN_FN_T_NULL) return acc_store(dst, &src->v);
      if (rn_fn_value_compare(&src->v, &dst->v, &cmp)) return 0;
      if ((ag->kind == RN_FN_AGG_MIN && cmp < 0) || (ag->kind == RN_FN_AGG_MAX && cmp > 0))
        return acc_store(dst, &src->v);
      return 0;
    case RN_FN_AGG_FIRST_VALUE:
    case RN_FN_AGG_LAST_VALUE:
      if (src->v.type == RN_FN_T_NULL) return 0;
      if (dst->v.type == RN_FN_T_NULL ||
          (ag->kind == RN_FN_AGG_FIRST_VALUE ? src->seq < dst->seq : src->seq > dst->seq)) {
        dst->seq = src->seq;
        return acc_store(dst, &src->v);
      }
      return 0;
  }
  return 0;
}

static void acc_result(const rn_fn_agg_t *ag, const acc_t *a, rn_fn_value_t *out) {
  switch (ag->kind) {
    case RN_FN_AGG_COUNT_STAR:
    case RN_FN_AGG_COUNT:
      out->type = RN_FN_T_BIGINT;
      out->i = ag->distinct ? (a->set ? a->set->n : 0) : a->n;
      return;
    case RN_FN_AGG_AVG:
      if (a->v.type == RN_FN_T_NULL || a->n == 0) {
        out->type = RN_FN_T_NULL;
      } else if (a->v.type == RN_FN_T_BIGINT) {
        out->type = RN_FN_T_BIGINT;
        out->i = a->v.i / a->n; /* truncates toward zero, as Java's long division */
      } else {
        out->type = RN_FN_T_DOUBLE;
        out->d = a->v.d / (double)a->n;
      }
      return;
    default:
      *out = a->v;
      return;
  }
}

/* ---- output ------------------------------------------------------------------------------ */

static void emit(rn_fn_task_t *t, rn_fn_output_t *o) {
  if (o->kind == RN_FN_OUTPUT_RESULT) t->st.records_out++;
  t->sink(t->opaque, o);
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The members of the record value doc for SELECT *: as
 * rn_fn_json_object_inner(), without validating again when the bound
 * record already was (bind_record() scanned this very document).
 */
static int star_inner(const rn_fn_task_t *t, const char *doc, size_t len, size_t *off, size_t *n) {
  if (t->jr.state != 1 || t->jr.doc != doc || t->jr.len != len)
    return rn_fn_json_object_inner(doc, len, off, n);
  size_t b = 0, e = len;
  while (b < e && doc[b] != '{') b++;
  while (e > b && doc[e - 1] != '}') e--;
  b++;
  e--;
  while (b < e && is_blank(doc[b])) b++;
  while (e > b && is_blank(doc[e - 1])) e--;
  *off = b;
  *n = e - b;
  return 0;
}

/* Appends the value object of the select list for the current ev.rec/ev.row. */
static int render_outs(rn_fn_task_t *t, const char *doc, size_t doclen) {
  const rn_fn_plan_t *p = t->plan;
  buf_t *b = &t->vbuf;
  b->len = 0;
  buf_put(b, "{", 1);
  int first = 1;
  for (uint32_t i = 0; i < p->nouts; i++) {
    const rn_fn_out_t *o = &p->outs[i];
    if (o->kind == RN_FN_OUT_STAR) {
      size_t off = 0, n = 0;
      if (!doc || star_inner(t, doc, doclen, &off, &n)) return RN_FN_EVAL_EDECODE;
      if (n) {
        if (!first) buf_put(b, ",", 1);
        buf_put(b, doc + off, n);
        first = 0;
      }
      continue;
    }
    rn_fn_value_t v;
    int rc = rn_fn_eval(&t->ev, o->expr, &v);
    if (rc) return rc;
    if (!first) buf_put(b, ",", 1);
    first = 0;
    buf_put(b, t->out_names[i], strlen(t->out_names[i]));
    buf_value(b, &v);
  }
  buf_put(b, "}", 1);
  return b->oom ? -ENOMEM : 0;
}

static void dlq(rn_fn_task_t *t, int32_t part, const rn_record_t *r, const char *why) {
  t->st.dlq++;
  if (!t->opts.dlq_output) return;
  rn_fn_output_t o = {.kind = RN_FN_OUTPUT_DLQ};
  o.key = r->key.len >= 0 ? (const char *)r->key.ptr : NULL;
  o.key_len = r->key.len >= 0 ? (uint32_t)r->key.len : 0;
  o.value = r->value.len >= 0 ? (const char *)r->value.ptr : NULL;
  o.value_len = r->value.len >= 0 ? (uint32_t)r->value.len : 0;
  o.timestamp = r->timestamp;
  o.partition = part;
  o.error = why;
  o.src_partition = part;
  o.src_offset = r->offset;
  o.headers = r->headers;
  o.headers_len = r->headers_len;
  o.header_count = r->header_count;
  t->sink(t->opaque, &o);
}

static void late(rn_fn_task_t *t, int32_t part, const rn_record_t *r) {
  t->st.late++;
  if (!t->opts.late_output) return;
  rn_fn_output_t o = {.kind = RN_FN_OUTPUT_LATE};
  o.key = r->key.len >= 0 ? (const char *)r->key.ptr : NULL;
  o.key_len = r->key.len >= 0 ? (uint32_t)r->key.len : 0;
  o.value = r->value.len >= 0 ? (const char *)r->value.ptr : NULL;
  o.value_len = r->value.len >= 0 ? (uint32_t)r->value.len : 0;
  o.timestamp = r->timestamp;
  o.partition = part;
  o.src_partition = part;
  o.src_offset = r->offset;
  o.headers = r->headers;
  o.headers_len = r->headers_len;
  o.header_count = r->header_count;
  t->sink(t->opaque, &o);
}

static const char *eval_reason(rn_fn_task_t *t, int rc) {
  if (rc == -ENOMEM) return "out of memory";
  return t->ev.error ? t->ev.error : "the record could not be evaluated";
}

/* Emits one group's current result (aggregates). */
static void emit_group(rn_fn_task_t *t, group_t *g) {
  const rn_fn_plan_t *p = t->plan;
  g->dirty = 0;
  for (uint32_t i = 0; i < t->naggs; i++) acc_result(&p->aggs[i], gacc(t, g, i), &t->res[i]);
  rn_fn_group_row_t row = {
      .keys = gkeys(g), .aggs = t->res, .window_start = g->win->start, .window_end = g->win->end};
  /* May run in the middle of a record (re-emission within allowed
     lateness): keep the record's scratch strings and binding. */
  const rn_fn_record_t *saved = t->ev.rec;
  size_t mark = t->ev.used;
  t->ev.rec = NULL;
  t->ev.row = &row;
  int keep = 1, rc = 0;
  if (p->having && (rn_fn_eval_cond(&t->ev, p->having, &keep) || !keep))
    rc = 1; /* a HAVING that fails to evaluate drops the row, as FALSE */
  if (!rc) rc = render_outs(t, NULL, 0);
  t->ev.row = NULL;
  t->ev.rec = saved;
  t->ev.used = mark;
  if (rc) return;
  buf_t *k = &t->kbuf;
  k->len = 0;
  if (t->nkeys) {
    buf_put(k, "{", 1);
    for (uint32_t i = 0; i < t->nkeys; i++) {
      if (i) buf_put(k, ",", 1);
      buf_put(k, t->key_names[i], strlen(t->key_names[i]));
      buf_value(k, &gkeys(g)[i]);
    }
    buf_put(k, "}", 1);
    if (k->oom) return;
  }
  rn_fn_output_t o = {.kind = RN_FN_OUTPUT_RESULT};
  o.key = t->nkeys ? k->p : NULL;
  o.key_len = t->nkeys ? (uint32_t)k->len : 0;
  o.value = t->vbuf.p;
  o.value_len = (uint32_t)t->vbuf.len;
  o.timestamp = g->win->end - 1;
  o.partition = -1;
  o.src_partition = -1;
  o.src_offset = -1;
  emit(t, &o);
}

/*
 * The record's field accessor: rn_fn_json_record_field() with a per-record
 * cache of non-text values (text may live in the evaluation scratch, which
 * expressions rewind; numbers are what is worth keeping anyway).
 */
static int cached_field(void *opaque, uint32_t slot, rn_fn_value_t *out, rn_fn_eval_t *ev) {
  rn_fn_task_t *t = opaque;
  if (slot < t->paths.nslots && t->fgen[slot] == t->gen) {
    *out = t->fcache[slot];
    return 0;
  }
  int rc = rn_fn_json_record_field(&t->jr, slot, out, ev);
  if (rc == 0 && slot < t->paths.nslots && !is_text(out->type)) {
    t->fcache[slot] = *out;
    t->fgen[slot] = t->gen;
  }
  return rc;
}

/* Binds the JSON record and validates the value (the whole document once). */
static int bind_record(rn_fn_task_t *t, rn_fn_record_t *rec, int32_t part, int64_t off, int64_t ts,
                       const char *key, int32_t klen, const char *val, size_t vlen) {
  memset(rec, 0, sizeof *rec);
  rec->key = klen >= 0 ? key : NULL;
  rec->key_len = klen >= 0 ? (uint32_t)klen : 0;
  rec->partition = part;
  rec->offset = off;
  rec->timestamp = ts;
  rn_fn_json_record_bind(&t->jr, rec, val, vlen);
  rec->field = cached_field;
  rec->opaque = t;
  if (++t->gen == 0) { /* wrapped: forget every generation */
    memset(t->fgen, 0, (t->paths.nslots + 1) * sizeof *t->fgen);
    t->gen = 1;
  }
  int rc = rn_fn_json_extract(&t->paths, val, vlen, t->vals, NULL);
  t->jr.state = rc == 0 ? 1 : rc;
  return rc;
}

static const char *json_reason(int rc) {
  return rc == RN_FN_JSON_ENOTOBJECT ? "the record value is not a JSON object"
         : rc == RN_FN_JSON_EDEPTH   ? "the record value is nested too deeply"
                                     : "the record value is not valid JSON";
}

/* Emits a held SESSION window TVF row or a window TVF row for ev.rec. */
static void emit_row(rn_fn_task_t *t, rn_fn_record_t *rec, const char *doc, size_t len,
                     int check_filter) {
  const rn_fn_plan_t *p = t->plan;
  t->ev.rec = rec;
  if (check_filter && p->filter) {
    int keep = 0;
    if (rn_fn_eval_cond(&t->ev, p->filter, &keep) || !keep) {
      t->st.filtered++;
      return;
    }
  }
  if (render_outs(t, doc, len)) return;
  rn_fn_output_t o = {.kind = RN_FN_OUTPUT_RESULT};
  o.key = rec->key;
  o.key_len = rec->key_len;
  o.value = t->vbuf.p;
  o.value_len = (uint32_t)t->vbuf.len;
  o.timestamp = rec->window_end - 1;
  o.partition = rec->partition;
  o.src_partition = rec->partition;
  o.src_offset = rec->offset;
  emit(t, &o);
}

static void emit_session_rows(rn_fn_task_t *t, win_t *w) {
  size_t pos = 0;
  while (pos + 24 <= w->rows_len) {
    const char *r = w->rows + pos;
    int64_t ts, off;
    int32_t part, klen, vlen;
    memcpy(&ts, r, 8);
    memcpy(&part, r + 8, 4);
    memcpy(&off, r + 12, 8);
    memcpy(&klen, r + 20, 4);
    const char *key = r + 24;
    size_t kl = klen > 0 ? (size_t)klen : 0;
    memcpy(&vlen, key + kl, 4);
    const char *val = key + kl + 4;
    pos += 28 + kl + (size_t)vlen;
    rn_fn_record_t rec;
    rn_fn_eval_reset(&t->ev);
    bind_record(t, &rec, part, off, ts, key, klen, val, (size_t)vlen);
    rec.window_start = w->start;
    rec.window_end = w->end;
    emit_row(t, &rec, val, (size_t)vlen, t->plan->filter_uses_window);
  }
}

static void emit_window(rn_fn_task_t *t, win_t *w, int only_dirty) {
  if (t->session_rows) {
    if (!only_dirty) emit_session_rows(t, w);
    return;
  }
  for (group_t *g = w->head; g; g = g->wnext)
    if (!only_dirty || g->dirty) emit_group(t, g);
}

static int win_cmp(const void *a, const void *b) {
  const win_t *x = *(win_t *const *)a, *y = *(win_t *const *)b;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  if (x->start != y->start) return x->start < y->start ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Collects the windows selected by want() into fire_list, sorted. */
static uint32_t collect(rn_fn_task_t *t, int early) {
  if (t->fire_cap < t->nwins || !t->fire_list) {
    win_t **nl = realloc(t->fire_list, (t->nwins + 1) * sizeof *nl);
    if (!nl) return 0;
    t->fire_list = nl;
    t->fire_cap = t->nwins;
  }
  uint32_t n = 0;
  for (uint32_t i = 0; i < t->nwins; i++) {
    win_t *w = t->wins[i];
    if (w->fired) continue;
    if (early || w->end - 1 <= t->wm) t->fire_list[n++] = w;
  }
  if (n > 1) qsort(t->fire_list, n, sizeof *t->fire_list, win_cmp);
  return n;
}

/* Fires due windows and frees windows past allowed lateness. */
static void fire(rn_fn_task_t *t) {
  if (t->wm == WM_NONE) return;
  /* The due windows are at the top of the heap. Fired ones are past
     allowed lateness: freed. Open ones fire: taken out of the heap (so
     none is freed before it is emitted), emitted in collect()'s order,
     then freed at once or put back with their purge time. */
  if (!t->hn || win_due(t, t->heap[0]) > t->wm) return;
  if (t->fire_cap < t->nwins || !t->fire_list) {
    win_t **nl = realloc(t->fire_list, (t->nwins + 1) * sizeof *nl);
    if (!nl) return;
    t->fire_list = nl;
    t->fire_cap = t->nwins;
  }
  uint32_t n = 0;
  while (t->hn && win_due(t, t->heap[0]) <= t->wm) {
    win_t *w = t->heap[0];
    if (w->fired) {
      win_free(t, w);
      continue;
    }
    heap_remove(t, w);
    w->fired = 1;
    t->fire_list[n++] = w;
  }
  if (n > 1) qsort(t->fire_list, n, sizeof *t->fire_list, win_cmp);
  for (uint32_t i = 0; i < n; i++) {
    t->st.windows_fired++;
    emit_window(t, t->fire_list[i], 0);
  }
  for (uint32_t i = 0; i < n; i++) {
    win_t *w = t->fire_list[i];
    if (win_due(t, w) <= t->wm)
      win_free(t, w);
    else
      heap_insert(t, w);
  }
}

static void recompute_wm(rn_fn_task_t *t) {
  int any = 0;
  int64_t m = INT64_MAX;
  for (int32_t i = 0; i < t->nparts; i++) {
    const part_t *p = &t->parts[i];
    if (p->idle) continue;
    any = 1;
    int64_t pw = p->seen ? sat_sub(p->max_ts, t->opts.watermark_delay_ms) : WM_NONE;
    if (pw < m) m = pw;
  }
  if (!any || m == WM_NONE || m <= t->wm) return;
  t->wm = m;
  fire(t);
}

/* ---- per-record processing ---------------------------------------------------------------- */

static part_t *get_part(rn_fn_task_t *t, int32_t partition) {
  if (partition < 0) return NULL;
  if (partition >= t->nparts) {
    part_t *np = realloc(t->parts, ((size_t)partition + 1) * sizeof *np);
    if (!np) return NULL;
    for (int32_t i = t->nparts; i <= partition; i++)
      np[i] = (part_t){.max_ts = WM_NONE, .last_active = TIME_UNKNOWN};
    t->parts = np;
    t->nparts = partition + 1;
  }
  return &t->parts[partition];
}

/*
 * Windows of an aligned assigner for event time ts, in Flink's order (HOP:
 * latest start first; CUMULATE: growing ends), skipping the first `skip`:
 * fills at most max and returns how many.
 */
static uint32_t assign(const rn_fn_plan_t *p, int64_t ts, uint32_t skip, int64_t *starts,
                       int64_t *ends, uint32_t max) {
  uint32_t n = 0;
  switch (p->window) {
    case RN_FN_WINDOW_TUMBLE:
      if (skip) return 0;
      starts[0] = ts - rn_fn_floor_mod(ts - p->offset_ms, p->size_ms);
      ends[0] = starts[0] + p->size_ms;
      return 1;
    case RN_FN_WINDOW_HOP: {
      int64_t last = ts - rn_fn_floor_mod(ts - p->offset_ms, p->slide_ms);
      for (int64_t s = last - (int64_t)skip * p->slide_ms; s > ts - p->size_ms && n < max;
           s -= p->slide_ms) {
        starts[n] = s;
        ends[n++] = s + p->size_ms;
      }
      return n;
    }
    case RN_FN_WINDOW_CUMULATE: {
      int64_t s = ts - rn_fn_floor_mod(ts - p->offset_ms, p->size_ms);
      int64_t first_end = ts - rn_fn_floor_mod(ts - p->offset_ms, p->step_ms) + p->step_ms;
      for (int64_t e = first_end + (int64_t)skip * p->step_ms; e <= s + p->size_ms && n < max;
           e += p->step_ms) {
        starts[n] = s;
        ends[n++] = e;
      }
      return n;
    }
    default:
      return 0;
  }
}

static int eval_into(rn_fn_task_t *t, const rn_fn_expr_t *const *ex, uint32_t n,
                     rn_fn_value_t *out) {
  for (uint32_t i = 0; i < n; i++) {
    int rc = rn_fn_eval(&t->ev, ex[i], &out[i]);
    if (rc) return rc;
  }
  return 0;
}

static int eval_args(rn_fn_task_t *t) {
  const rn_fn_plan_t *p = t->plan;
  for (uint32_t i = 0; i < t->naggs; i++) {
    if (!p->aggs[i].arg) {
      t->av[i].type = RN_FN_T_NULL;
      continue;
    }
    int rc = rn_fn_eval(&t->ev, p->aggs[i].arg, &t->av[i]);
    if (rc) return rc;
  }
  return 0;
}

static int accumulate(rn_fn_task_t *t, group_t *g) {
  for (uint32_t i = 0; i < t->naggs; i++)
    if (acc_add(t, &t->plan->aggs[i], gacc(t, g, i), &t->av[i])) return -ENOMEM;
  g->dirty = 1;
  return 0;
}

/* Appends the current record to a session window's held rows. */
static int hold_row(rn_fn_task_t *t, win_t *w, const rn_record_t *r, int32_t part) {
  size_t kl = r->key.len > 0 ? (size_t)r->key.len : 0;
  size_t vl = (size_t)r->value.len;
  size_t need = 28 + kl + vl;
  if (w->rows_len + need > w->rows_cap) {
    size_t cap = w->rows_cap ? w->rows_cap : 256;
    while (cap < w->rows_len + need) cap *= 2;
    char *np = realloc(w->rows, cap);
    if (!np) return -ENOMEM;
    t->state_bytes += cap - w->rows_cap;
    w->rows = np;
    w->rows_cap = cap;
  }
  char *o = w->rows + w->rows_len;
  int32_t klen = r->key.len, vlen = r->value.len;
  memcpy(o, &r->timestamp, 8);
  memcpy(o + 8, &part, 4);
  memcpy(o + 12, &r->offset, 8);
  memcpy(o + 20, &klen, 4);
  if (kl) memcpy(o + 24, r->key.ptr, kl);
  memcpy(o + 24 + kl, &vlen, 4);
  if (vl) memcpy(o + 28 + kl, r->value.ptr, vl);
  w->rows_len += need;
  w->nrows++;
  return 0;
}

/* SESSION: merges the sessions of the current key with [ts, ts + gap). */
static int session_record(rn_fn_task_t *t, int64_t ts, const rn_record_t *r, int32_t part,
                          rn_fn_record_t *rec) {
  const rn_fn_plan_t *p = t->plan;
  int64_t s = ts, e = ts + p->gap_ms;
  uint64_t h = hash_keys(t, t->kv, 0x5e55u);
  group_t *keep = NULL;
  /* Find overlapping sessions of this key (Flink: intersecting or touching). */
  for (int again = 1; again;) {
    again = 0;
    if (!t->tab.cap) break;
    uint32_t mask = t->tab.cap - 1;
    for (uint32_t j = (uint32_t)h & mask; t->tab.slot[j].g; j = (j + 1) & mask) {
      group_t *g = t->tab.slot[j].g;
      if (g == keep || t->tab.slot[j].hash != h || !keys_same(t, g, t->kv)) continue;
      if (g->win->start > e || g->win->end < s) continue;
      if (g->win->start < s) s = g->win->start;
      if (g->win->end > e) e = g->win->end;
      if (!keep) {
        keep = g;
        continue;
      }
      /* Merge g into keep, then rescan (removal reshuffles the chain). */
      for (uint32_t i = 0; i < t->naggs; i++)
        if (acc_merge(&p->aggs[i], gacc(t, keep, i), gacc(t, g, i))) return -ENOMEM;
      win_t *gw = g->win;
      if (gw->rows_len) {
        win_t *kw = keep->win;
        if (kw->rows_len + gw->rows_len > kw->rows_cap) {
          size_t cap = kw->rows_len + gw->rows_len;
          char *np = realloc(kw->rows, cap);
          if (!np) return -ENOMEM;
          t->state_bytes += cap - kw->rows_cap;
          kw->rows = np;
          kw->rows_cap = cap;
        }
        memcpy(kw->rows + kw->rows_len, gw->rows, gw->rows_len);
        kw->rows_len += gw->rows_len;
        kw->nrows += gw->nrows;
      }
      if (gw->order < keep->win->order) keep->win->order = gw->order;
      win_free(t, gw);
      again = 1;
      break;
    }
  }
  /* Sessions past allowed lateness were purged, so only a record that
     merges with nothing can be late (Flink drops it). */
  if (!keep && t->wm != WM_NONE && sat_sub(e - 1, -t->opts.allowed_lateness_ms) <= t->wm) return 1;
  if (!keep) {
    win_t *w = win_new(t, s, e);
    if (!w) return -ENOMEM;
    keep = group_new(t, w, h, t->kv);
    if (!keep) {
      win_free(t, w);
      return -ENOMEM;
    }
  }
  win_t *w = keep->win;
  w->start = s;
  w->end = e;
  int fired_before = w->fired;
  w->fired = (t->wm != WM_NONE && e - 1 <= t->wm);
  heap_update(t, w);
  if (t->session_rows) {
    if (hold_row(t, w, r, part)) return -ENOMEM;
    if (w->fired) {
      /* Within allowed lateness: emit this row with the session's bounds. */
      rec->window_start = s;
      rec->window_end = e;
      emit_row(t, rec, (const char *)r->value.ptr, (size_t)r->value.len, p->filter_uses_window);
    }
    return 0;
  }
  if (accumulate(t, keep)) return -ENOMEM;
  if (w->fired) {
    if (!fired_before) t->st.windows_fired++;
    emit_group(t, keep);
  }
  return 0;
}

static void process_record(rn_fn_task_t *t, int32_t part, part_t *pp, const rn_record_t *r) {
  const rn_fn_plan_t *p = t->plan;
  t->st.records_in++;
  t->seq++;
  if (r->value.len < 0) {
    t->st.skipped++;
    return;
  }
  rn_fn_eval_reset(&t->ev);
  t->ev.row = NULL;
  rn_fn_record_t rec;
  const char *doc = (const char *)r->value.ptr;
  size_t dlen = (size_t)r->value.len;
  int rc = bind_record(t, &rec, part, r->offset, r->timestamp, (const char *)r->key.ptr, r->key.len,
                       doc, dlen);
  if (rc) {
    dlq(t, part, r, json_reason(rc));
    return;
  }
  t->ev.rec = &rec;

  if (p->mode == RN_FN_MODE_MAP) {
    int keep = 1;
    if (p->filter && (rc = rn_fn_eval_cond(&t->ev, p->filter, &keep))) {
      dlq(t, part, r, eval_reason(t, rc));
      return;
    }
    if (!keep) {
      t->st.filtered++;
      return;
    }
    if ((rc = render_outs(t, doc, dlen))) {
      dlq(t, part, r, eval_reason(t, rc));
      return;
    }
    rn_fn_output_t o = {.kind = RN_FN_OUTPUT_RESULT};
    o.key = rec.key;
    o.key_len = rec.key_len;
    o.value = t->vbuf.p;
    o.value_len = (uint32_t)t->vbuf.len;
    o.timestamp = r->timestamp;
    o.partition = part;
    o.src_partition = part;
    o.src_offset = r->offset;
    emit(t, &o);
    return;
  }

  /* Event time. */
  rn_fn_value_t tv;
  int64_t ts;
  if ((rc = rn_fn_eval(&t->ev, p->timecol, &tv))) {
    dlq(t, part, r, eval_reason(t, rc));
    return;
  }
  if (tv.type == RN_FN_T_NULL) {
    dlq(t, part, r, "the event-time column is missing or null");
    return;
  }
  if (rn_fn_value_to_epoch_ms(&tv, &ts)) {
    dlq(t, part, r, "the event-time column is not a timestamp");
    return;
  }
  if (ts <= -TS_LIMIT || ts >= TS_LIMIT) {
    dlq(t, part, r, "the event time is out of range");
    return;
  }
  if (pp && (!pp->seen || ts > pp->max_ts)) {
    pp->max_ts = ts;
    pp->seen = 1;
  }
  int64_t lateness = t->opts.allowed_lateness_ms;
  int have_wm = t->wm != WM_NONE;

  /* A filter that does not read window columns runs once per record. */
  if (p->filter && !p->filter_uses_window) {
    int keep = 0;
    if ((rc = rn_fn_eval_cond(&t->ev, p->filter, &keep))) {
      dlq(t, part, r, eval_reason(t, rc));
      return;
    }
    if (!keep) {
      t->st.filtered++;
      return;
    }
  }

  if (p->window == RN_FN_WINDOW_SESSION) {
    rec.window_start = ts;
    rec.window_end = ts + p->gap_ms;
    if (p->filter && p->filter_uses_window && !t->session_rows) {
      /* Before merging, a record's session is its own [ts, ts + gap). */
      int keep = 0;
      if ((rc = rn_fn_eval_cond(&t->ev, p->filter, &keep))) {
        dlq(t, part, r, eval_reason(t, rc));
        return;
      }
      if (!keep) {
        t->st.filtered++;
        return;
      }
    }
    if ((rc = eval_into(t, t->kexpr, t->nkeys, t->kv)) || (rc = eval_args(t))) {
      dlq(t, part, r, eval_reason(t, rc));
      return;
    }
    rc = session_record(t, ts, r, part, &rec);
    if (rc == 1) late(t, part, r);
    if (rc < 0) dlq(t, part, r, "out of memory");
    return;
  }

  uint32_t total = 0, accepted = 0, passed = 0;
  if (p->mode == RN_FN_MODE_WINDOW_AGG && !p->filter_uses_window && !t->args_use_window) {
    if ((rc = eval_into(t, t->kexpr, t->nkeys, t->kv)) || (rc = eval_args(t))) {
      dlq(t, part, r, eval_reason(t, rc));
      return;
    }
  }
  /* Windows are enumerated in chunks (HOP and CUMULATE may give many). */
  int64_t ws[64], we[64];
  uint32_t nwin;
  for (uint32_t done = 0; (nwin = assign(p, ts, done, ws, we, 64)) > 0; done += nwin) {
    for (uint32_t i = 0; i < nwin; i++) {
      total++;
      rec.window_start = ws[i];
      rec.window_end = we[i];
      if (p->filter && p->filter_uses_window) {
        int keep = 0;
        if ((rc = rn_fn_eval_cond(&t->ev, p->filter, &keep))) {
          dlq(t, part, r, eval_reason(t, rc));
          return;
        }
        if (!keep) continue;
      }
      passed++;
      if (p->mode == RN_FN_MODE_WINDOW_MAP) {
        /* Window TVF rows: emitted at once, never late. */
        emit_row(t, &rec, doc, dlen, 0);
        accepted++;
        continue;
      }
      int64_t maxts = we[i] - 1;
      if (have_wm && sat_sub(maxts, -lateness) <= t->wm) continue; /* past lateness */
      if (p->filter_uses_window || t->args_use_window) {
        if ((rc = eval_into(t, t->kexpr, t->nkeys, t->kv)) || (rc = eval_args(t))) {
          dlq(t, part, r, eval_reason(t, rc));
          return;
        }
      }
      accepted++;
      uint64_t h = hash_keys(t, t->kv, hash_window(ws[i], we[i]));
      group_t *g = NULL;
      if (t->tab.cap) {
        uint32_t mask = t->tab.cap - 1;
        for (uint32_t j = (uint32_t)h & mask; t->tab.slot[j].g; j = (j + 1) & mask) {
          if (t->tab.slot[j].hash != h) continue;
          group_t *x = t->tab.slot[j].g;
          if (x->win->start == ws[i] && x->win->end == we[i] && keys_same(t, x, t->kv)) {
            g = x;
            break;
          }
        }
      }
      if (!g) {
        win_t *w = find_aligned(t, ws[i], we[i]);
        if (!w && !(w = win_new(t, ws[i], we[i]))) {
          dlq(t, part, r, "out of memory");
          return;
        }
        if (have_wm && maxts <= t->wm && !w->fired) {
          w->fired = 1; /* created after its firing time, within lateness */
          heap_update(t, w);
          t->st.windows_fired++;
        }
        if (!(g = group_new(t, w, h, t->kv))) {
          if (!w->head) win_free(t, w);
          dlq(t, part, r, "out of memory");
          return;
        }
      }
      if (accumulate(t, g)) {
        dlq(t, part, r, "out of memory");
        return;
      }
      if (g->win->fired) emit_group(t, g); /* late but allowed: re-emit */
    }
  }
  if (passed == 0 && p->filter && p->filter_uses_window) {
    t->st.filtered++;
    return;
  }
  if (accepted == 0 && total > 0) late(t, part, r);
}

/* ---- public API ------------------------------------------------------------------------ */

void rn_fn_task_opts_init(rn_fn_task_opts_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->npartitions = 1;
}

int rn_fn_parse_duration(const char *s, int64_t *ms) {
  if (!s) return -1;
  while (*s == ' ') s++;
  if (*s < '0' || *s > '9') return -1;
  int64_t v = 0;
  while (*s >= '0' && *s <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*s++ - '0');
  }
  while (*s == ' ') s++;
  int64_t mul;
  if (!*s || !strcmp(s, "ms"))
    mul = 1;
  else if (!strcmp(s, "s") || !strcmp(s, "sec") || !strcmp(s, "second") || !strcmp(s, "seconds"))
    mul = 1000;
  else if (!strcmp(s, "m") || !strcmp(s, "min") || !strcmp(s, "minute") || !strcmp(s, "minutes"))
    mul = 60000;
  else if (!strcmp(s, "h") || !strcmp(s, "hour") || !strcmp(s, "hours"))
    mul = 3600000;
  else if (!strcmp(s, "d") || !strcmp(s, "day") || !strcmp(s, "days"))
    mul = 86400000;
  else
    return -1;
  if (v > INT64_MAX / mul / 4) return -1;
  *ms = v * mul;
  return 0;
}

int rn_fn_task_opts_set(rn_fn_task_opts_t *o, const char *name, const char *value,
                        rn_fn_error_t *err) {
  int64_t ms = 0;
  if (!strcmp(name, "watermark.delay") || !strcmp(name, "watermark.idle-timeout") ||
      !strcmp(name, "allowed.lateness")) {
    if (rn_fn_parse_duration(value, &ms)) {
      rn_fn_error_set(err, 0, 0, "%s: '%s' is not a duration (e.g. 5s, 250ms, 1m)", name, value);
      return -1;
    }
    if (name[0] == 'a')
      o->allowed_lateness_ms = ms;
    else if (name[10] == 'd')
      o->watermark_delay_ms = ms;
    else
      o->idle_timeout_ms = ms;
    return 0;
  }
  if (!strcmp(name, "emit")) {
    if (!strcmp(value, "final")) {
      o->emit_early_ms = 0;
      return 0;
    }
    if (!strncmp(value, "early:", 6) && !rn_fn_parse_duration(value + 6, &ms) && ms > 0) {
      o->emit_early_ms = ms;
      return 0;
    }
    rn_fn_error_set(err, 0, 0, "emit: expected 'final' or 'early:<interval>', got '%s'", value);
    return -1;
  }
  if (!strcmp(name, "late.topic")) {
    o->late_output = value && *value;
    return 0;
  }
  if (!strcmp(name, "dlq.topic")) {
    o->dlq_output = value && *value;
    return 0;
  }
  if (!strcmp(name, "partitions")) {
    char *end = NULL;
    long n = value ? strtol(value, &end, 10) : 0;
    if (!value || end == value || *end || n < 1 || n > 1000000) {
      rn_fn_error_set(err, 0, 0, "partitions: '%s' is not a partition count", value ? value : "");
      return -1;
    }
    o->npartitions = (int32_t)n;
    return 0;
  }
  if (!strcmp(name, "startup") || !strcmp(name, "checkpoint.interval") || !strcmp(name, "delivery"))
    return 0;
  rn_fn_error_set(err, 0, 0, "unknown function option '%s'", name);
  return -1;
}

static int expr_uses_window(const rn_fn_expr_t *x) {
  if (!x) return 0;
  for (uint32_t i = 0; i < x->nnodes; i++) {
    uint16_t op = x->nodes[i].op;
    if (op == RN_FN_E_WSTART || op == RN_FN_E_WEND || op == RN_FN_E_WTIME) return 1;
  }
  return 0;
}

int rn_fn_task_new(const rn_fn_plan_t *plan, const rn_fn_task_opts_t *opts, rn_fn_sink_fn sink,
                   void *opaque, rn_fn_task_t **out, rn_fn_error_t *err) {
  *out = NULL;
  if (plan->mode != RN_FN_MODE_MAP) {
    int64_t per = plan->window == RN_FN_WINDOW_HOP        ? plan->size_ms / plan->slide_ms
                  : plan->window == RN_FN_WINDOW_CUMULATE ? plan->size_ms / plan->step_ms
                                                          : 1;
    if (per > MAX_WINDOWS_PER_RECORD) {
      rn_fn_error_set(err, 0, 0, "a record would belong to %lld windows; at most %d are supported",
                      (long long)per, MAX_WINDOWS_PER_RECORD);
      return -EINVAL;
    }
  }
  rn_fn_task_t *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->plan = plan;
  t->opts = *opts;
  if (t->opts.npartitions < 1) t->opts.npartitions = 1;
  t->sink = sink;
  t->opaque = opaque;
  t->wm = WM_NONE;
  t->now = TIME_UNKNOWN;
  t->next_early = TIME_UNKNOWN;
  rn_batch_iter_init(&t->it, 0);
  if (plan->mode == RN_FN_MODE_WINDOW_AGG) {
    t->nkeys = plan->nkeys;
    t->naggs = plan->naggs;
  } else if (plan->mode == RN_FN_MODE_WINDOW_MAP && plan->window == RN_FN_WINDOW_SESSION) {
    t->nkeys = plan->npartition;
    t->session_rows = 1;
  }
  int rc = -ENOMEM;
  if (rn_fn_eval_init(&t->ev, 0)) goto fail;
  if (rn_fn_json_paths_build(&t->paths, plan->fields, plan->nfields)) goto fail;
  t->vals = calloc(t->paths.nslots + 1, sizeof *t->vals);
  t->fcache = calloc(t->paths.nslots + 1, sizeof *t->fcache);
  t->fgen = calloc(t->paths.nslots + 1, sizeof *t->fgen);
  t->gen = 1;
  if (!t->fcache || !t->fgen) goto fail;
  t->jr.paths = &t->paths;
  t->jr.vals = t->vals;
  t->kexpr = calloc(t->nkeys + 1, sizeof *t->kexpr);
  t->kv = calloc(t->nkeys + 1, sizeof *t->kv);
  t->av = calloc(t->naggs + 1, sizeof *t->av);
  t->res = calloc(t->naggs + 1, sizeof *t->res);
  t->out_names = calloc(plan->nouts + 1, sizeof *t->out_names);
  t->key_names = calloc(t->nkeys + 1, sizeof *t->key_names);
  if (!t->vals || !t->kexpr || !t->kv || !t->av || !t->res || !t->out_names || !t->key_names)
    goto fail;
  for (uint32_t i = 0; i < t->nkeys; i++) {
    t->kexpr[i] = t->session_rows ? plan->partition[i] : plan->keys[i].expr;
    if (!t->session_rows && !(t->key_names[i] = member_prefix(plan->keys[i].name))) goto fail;
  }
  for (uint32_t i = 0; i < plan->nouts; i++)
    if (plan->outs[i].kind == RN_FN_OUT_EXPR &&
        !(t->out_names[i] = member_prefix(plan->outs[i].name)))
      goto fail;
  for (uint32_t i = 0; i < t->naggs; i++)
    t->args_use_window |= (uint8_t)expr_uses_window(plan->aggs[i].arg);
  for (uint32_t i = 0; i < t->nkeys; i++)
    t->args_use_window |= (uint8_t)expr_uses_window(t->kexpr[i]);
  t->acc_off = calloc(t->naggs + 1, sizeof *t->acc_off);
  t->acc_lvl = calloc(t->naggs + 1, sizeof *t->acc_lvl);
  if (!t->acc_off || !t->acc_lvl) goto fail;
  t->group_size = sizeof(group_t) + t->nkeys * sizeof(rn_fn_value_t);
  for (uint32_t i = 0; i < t->naggs; i++) {
    int lvl = acc_level(&plan->aggs[i]);
    t->acc_lvl[i] = (uint8_t)lvl;
    t->acc_off[i] = (uint32_t)t->group_size;
    t->group_size += lvl == 0 ? ACC_LEVEL0_SIZE : lvl == 1 ? ACC_LEVEL1_SIZE : sizeof(acc_t);
  }
  if (!get_part(t, t->opts.npartitions - 1)) goto fail;
  *out = t;
  return 0;
fail:
  rn_fn_task_free(t);
  if (rc == -ENOMEM) rn_fn_error_set(err, 0, 0, "out of memory");
  return rc;
}

void rn_fn_task_free(rn_fn_task_t *t) {
  if (!t) return;
  while (t->nwins) win_free(t, t->wins[t->nwins - 1]);
  free(t->wins);
  free(t->heap);
  free(t->tab.slot);
  free(t->acc_off);
  free(t->acc_lvl);
  free(t->fire_list);
  if (t->out_names)
    for (uint32_t i = 0; i < t->plan->nouts; i++) free(t->out_names[i]);
  if (t->key_names)
    for (uint32_t i = 0; i < t->nkeys; i++) free(t->key_names[i]);
  free(t->out_names);
  free(t->key_names);
  free(t->kexpr);
  free(t->kv);
  free(t->av);
  free(t->res);
  free(t->vals);
  free(t->fcache);
  free(t->fgen);
  free(t->parts);
  free(t->kbuf.p);
  free(t->vbuf.p);
  rn_fn_json_paths_free(&t->paths);
  rn_fn_eval_free(&t->ev);
  rn_batch_iter_free(&t->it);
  free(t);
}

int rn_fn_task_feed_batch(rn_fn_task_t *t, int32_t partition, const uint8_t *batch, size_t len) {
  part_t *pp = get_part(t, partition);
  if (!pp) return partition < 0 ? -EINVAL : -ENOMEM;
  rn_err_t err = rn_batch_iter_reset(&t->it, batch, len);
  if (err) return err;
  pp->last_active = t->now;
  pp->idle = 0;
  if (t->it.hdr.attributes & RN_BATCH_ATTR_CONTROL) return 0;
  rn_record_t r;
  int rc;
  while ((rc = rn_batch_iter_next(&t->it, &r)) == 1) {
    pp = &t->parts[partition]; /* stable: parts only grow in get_part() */
    process_record(t, partition, pp, &r);
  }
  recompute_wm(t);
  return rc == 0 ? 0 : rc;
}

int rn_fn_task_advance(rn_fn_task_t *t, int64_t now) {
  t->now = now;
  for (int32_t i = 0; i < t->nparts; i++) {
    part_t *p = &t->parts[i];
    if (p->last_active == TIME_UNKNOWN) p->last_active = now;
    if (t->opts.idle_timeout_ms > 0 && !p->idle && now - p->last_active >= t->opts.idle_timeout_ms)
      p->idle = 1;
  }
  recompute_wm(t);
  if (t->opts.emit_early_ms > 0) {
    if (t->next_early == TIME_UNKNOWN) t->next_early = now + t->opts.emit_early_ms;
    if (now >= t->next_early) {
      t->next_early = now + t->opts.emit_early_ms;
      uint32_t n = collect(t, 1);
      for (uint32_t i = 0; i < n; i++) emit_window(t, t->fire_list[i], 1);
    }
  }
  return 0;
}

void rn_fn_task_stats(const rn_fn_task_t *t, rn_fn_task_stats_t *st) {
  *st = t->st;
  st->state_bytes = t->state_bytes + t->tab.cap * sizeof(gslot_t);
  st->watermark = t->wm;
}

int rn_fn_task_add_partitions(rn_fn_task_t *task, int32_t nparts) {
  if (nparts <= task->nparts) return 0;
  return get_part(task, nparts - 1) ? 0 : -ENOMEM;
}

int64_t rn_fn_task_partition_watermark(const rn_fn_task_t *t, int32_t partition, int *idle) {
  if (partition < 0 || partition >= t->nparts) {
    if (idle) *idle = 0;
    return WM_NONE;
  }
  const part_t *p = &t->parts[partition];
  if (idle) *idle = p->idle;
  return p->seen ? sat_sub(p->max_ts, t->opts.watermark_delay_ms) : WM_NONE;
}

/* ---- snapshots ------------------------------------------------------------------------ */

#define SNAP_VERSION 1

static uint64_t fingerprint(const rn_fn_plan_t *p) {
  return XXH3_64bits(p->sql ? p->sql : "", p->sql ? strlen(p->sql) : 0);
}

static void put_value(rn_wr_t *w, const rn_fn_value_t *v) {
  rn_wr_i8(w, (int8_t)v->type);
  switch (v->type) {
    case RN_FN_T_NULL:
    case RN_FN_T_ANY:
      break;
    case RN_FN_T_DOUBLE:
      rn_wr_f64(w, v->d);
      break;
    case RN_FN_T_STRING:
    case RN_FN_T_JSON:
      rn_wr_i32(w, (int32_t)v->s.n);
      rn_wr_raw(w, v->s.p, v->s.n);
      break;
    default:
      rn_wr_i64(w, v->i);
      break;
  }
}

/* Reads a value; strings stay views into the snapshot. */
static void get_value(rn_rd_t *r, rn_fn_value_t *v) {
  memset(v, 0, sizeof *v);
  int8_t type = rn_rd_i8(r);
  if (type < RN_FN_T_NULL || type > RN_FN_T_INTERVAL) {
    rn_rd_fail(r, RN_ERR__TOO_LARGE);
    return;
  }
  v->type = (rn_fn_type_t)type;
  switch (v->type) {
    case RN_FN_T_NULL:
      break;
    case RN_FN_T_DOUBLE:
      v->d = rn_rd_f64(r);
      break;
    case RN_FN_T_STRING:
    case RN_FN_T_JSON: {
      int32_t n = rn_rd_i32(r);
      const uint8_t *p = n >= 0 ? rn_rd_raw(r, (size_t)n) : NULL;
      if (n < 0) rn_rd_fail(r, RN_ERR__TOO_LARGE);
      v->s.p = p ? (const char *)p : "";
      v->s.n = p ? (uint32_t)n : 0;
      break;
    }
    default:
      v->i = rn_rd_i64(r);
      break;
  }
}

int rn_fn_task_snapshot(const rn_fn_task_t *t, rn_wr_t *w) {
  rn_wr_raw(w, "RNFS", 4);
  rn_wr_u16(w, SNAP_VERSION);
  rn_wr_i64(w, (int64_t)fingerprint(t->plan));
  rn_wr_i64(w, t->wm);
  rn_wr_i64(w, t->now);
  rn_wr_i64(w, t->next_early);
  rn_wr_i64(w, (int64_t)t->seq);
  const uint64_t c[] = {t->st.records_in, t->st.records_out, t->st.late,         t->st.dlq,
                        t->st.filtered,   t->st.skipped,     t->st.windows_fired};
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) rn_wr_i64(w, (int64_t)c[i]);
  rn_wr_u32(w, (uint32_t)t->nparts);
  for (int32_t i = 0; i < t->nparts; i++) {
    rn_wr_i64(w, t->parts[i].max_ts);
    rn_wr_i64(w, t->parts[i].last_active);
    rn_wr_i8(w, (int8_t)t->parts[i].seen);
    rn_wr_i8(w, (int8_t)t->parts[i].idle);
  }
  /* Windows in emission order, so a restored task emits in the same order. */
  win_t **ws = malloc((t->nwins + 1) * sizeof *ws);
  if (!ws) return -ENOMEM;
  if (t->nwins) memcpy(ws, t->wins, t->nwins * sizeof *ws);
  if (t->nwins > 1) qsort(ws, t->nwins, sizeof *ws, win_cmp);
  rn_wr_u32(w, t->nwins);
  for (uint32_t i = 0; i < t->nwins; i++) {
    const win_t *x = ws[i];
    rn_wr_i64(w, x->start);
    rn_wr_i64(w, x->end);
    rn_wr_i8(w, (int8_t)x->fired);
    uint32_t ng = 0;
    for (group_t *g = x->head; g; g = g->wnext) ng++;
    rn_wr_u32(w, ng);
    for (group_t *g = x->head; g; g = g->wnext) {
      rn_wr_i8(w, (int8_t)g->dirty);
      for (uint32_t k = 0; k < t->nkeys; k++) put_value(w, &gkeys(g)[k]);
      for (uint32_t a = 0; a < t->naggs; a++) {
        /* Fields a level does not keep are written as their unused
           values (seq 0, value NULL, no distinct set). */
        const acc_t *ac = gacc(t, g, a);
        int lvl = t->acc_lvl[a];
        static const rn_fn_value_t null_value = {.type = RN_FN_T_NULL};
        rn_wr_i64(w, ac->n);
        rn_wr_i64(w, lvl >= 2 ? ac->seq : 0);
        put_value(w, lvl >= 1 ? &ac->v : &null_value);
        const dset_t *set = lvl >= 2 ? ac->set : NULL;
        rn_wr_u32(w, set ? set->n : 0);
        if (set)
          for (uint32_t s = 0; s < set->cap; s++)
            if (set->v[s].type != RN_FN_T_ANY) put_value(w, &set->v[s]);
      }
    }
    rn_wr_u32(w, x->nrows);
    rn_wr_i32(w, (int32_t)x->rows_len);
    if (x->rows_len) rn_wr_raw(w, x->rows, x->rows_len);
  }
  free(ws);
  return w->err ? -ENOMEM : 0;
}

static void reset_state(rn_fn_task_t *t) {
  while (t->nwins) win_free(t, t->wins[t->nwins - 1]);
  for (int32_t i = 0; i < t->nparts; i++)
    t->parts[i] = (part_t){.max_ts = WM_NONE, .last_active = TIME_UNKNOWN};
  t->wm = WM_NONE;
  t->seq = 0;
  memset(&t->st, 0, sizeof t->st);
}

int rn_fn_task_restore(rn_fn_task_t *t, const uint8_t *bytes, size_t len) {
  reset_state(t);
  rn_rd_t r;
  rn_rd_init(&r, bytes, len);
  const uint8_t *magic = rn_rd_raw(&r, 4);
  if (!magic || memcmp(magic, "RNFS", 4) || rn_rd_u16(&r) != SNAP_VERSION ||
      (uint64_t)rn_rd_i64(&r) != fingerprint(t->plan))
    return -EINVAL;
  int rc = -EINVAL;
  int64_t wm = rn_rd_i64(&r);
  int64_t now = rn_rd_i64(&r);
  int64_t next_early = rn_rd_i64(&r);
  uint64_t seq = (uint64_t)rn_rd_i64(&r);
  uint64_t c[7];
  for (int i = 0; i < 7; i++) c[i] = (uint64_t)rn_rd_i64(&r);
  uint32_t np = rn_rd_u32(&r);
  if (rn_rd_err(&r) || np > rn_rd_left(&r) / 18 || np > 1000000) goto bad;
  if (np && !get_part(t, (int32_t)np - 1)) {
    rc = -ENOMEM;
    goto bad;
  }
  for (uint32_t i = 0; i < np; i++) {
    t->parts[i].max_ts = rn_rd_i64(&r);
    t->parts[i].last_active = rn_rd_i64(&r);
    t->parts[i].seen = rn_rd_i8(&r) != 0;
    t->parts[i].idle = rn_rd_i8(&r) != 0;
  }
  uint32_t nw = rn_rd_u32(&r);
  if (rn_rd_err(&r) || nw > rn_rd_left(&r) / 25) goto bad;
  for (uint32_t i = 0; i < nw; i++) {
    int64_t s = rn_rd_i64(&r), e = rn_rd_i64(&r);
    int fired = rn_rd_i8(&r) != 0;
    uint32_t ng = rn_rd_u32(&r);
    if (rn_rd_err(&r) || e <= s || ng > rn_rd_left(&r)) goto bad;
    if (t->plan->window == RN_FN_WINDOW_SESSION && ng != (t->session_rows ? 1u : 1u)) goto bad;
    win_t *w = win_new(t, s, e);
    if (!w) {
      rc = -ENOMEM;
      goto bad;
    }
    w->fired = (uint8_t)fired;
    heap_update(t, w);
    for (uint32_t gi = 0; gi < ng; gi++) {
      uint8_t dirty = rn_rd_i8(&r) != 0;
      for (uint32_t k = 0; k < t->nkeys; k++) get_value(&r, &t->kv[k]);
      if (rn_rd_err(&r)) goto bad;
      uint64_t h = t->plan->window == RN_FN_WINDOW_SESSION ? hash_keys(t, t->kv, 0x5e55u)
                                                           : hash_keys(t, t->kv, hash_window(s, e));
      group_t *g = group_new(t, w, h, t->kv);
      if (!g) {
        rc = -ENOMEM;
        goto bad;
      }
      g->dirty = dirty;
      for (uint32_t a = 0; a < t->naggs; a++) {
        acc_t *ac = gacc(t, g, a);
        int lvl = t->acc_lvl[a];
        ac->n = rn_rd_i64(&r);
        int64_t aseq = rn_rd_i64(&r);
        rn_fn_value_t v;
        get_value(&r, &v);
        uint32_t nd = rn_rd_u32(&r);
        if (rn_rd_err(&r) || nd > rn_rd_left(&r)) goto bad;
        /* Fields outside the aggregate's level are never read by it:
           they are checked for well-formedness and dropped. SUM and AVG
           only ever hold numbers (or NULL). */
        if (lvl >= 2) {
          ac->seq = aseq;
          if (acc_store(ac, &v)) {
            rc = -ENOMEM;
            goto bad;
          }
        } else if (lvl == 1) {
          if (is_text(v.type)) goto bad;
          ac->v = v;
        }
        if (nd && lvl >= 2 && !(ac->set = dset_new())) {
          rc = -ENOMEM;
          goto bad;
        }
        for (uint32_t d = 0; d < nd; d++) {
          get_value(&r, &v);
          if (rn_rd_err(&r)) goto bad;
          if (lvl >= 2 && dset_add(ac->set, &v) < 0) {
            rc = -ENOMEM;
            goto bad;
          }
        }
      }
    }
    w->nrows = rn_rd_u32(&r);
    int32_t rl = rn_rd_i32(&r);
    if (rn_rd_err(&r) || rl < 0 || (size_t)rl > rn_rd_left(&r)) goto bad;
    if (rl) {
      const uint8_t *rows = rn_rd_raw(&r, (size_t)rl);
      if (!(w->rows = malloc((size_t)rl))) {
        rc = -ENOMEM;
        goto bad;
      }
      memcpy(w->rows, rows, (size_t)rl);
      w->rows_len = w->rows_cap = (size_t)rl;
      t->state_bytes += (size_t)rl;
      /* Check the framing of the held rows now, so emission can trust it. */
      size_t pos = 0;
      uint32_t count = 0;
      while (pos < w->rows_len) {
        int32_t kl, vl;
        if (w->rows_len - pos < 28) goto bad;
        memcpy(&kl, w->rows + pos + 20, 4);
        if (kl < -1 || (size_t)(kl > 0 ? kl : 0) > w->rows_len - pos - 28) goto bad;
        size_t kk = kl > 0 ? (size_t)kl : 0;
        memcpy(&vl, w->rows + pos + 24 + kk, 4);
        if (vl < 0 || (size_t)vl > w->rows_len - pos - 28 - kk) goto bad;
        pos += 28 + kk + (size_t)vl;
        count++;
      }
      if (count != w->nrows) goto bad;
    }
  }
  if (rn_rd_err(&r) || rn_rd_left(&r) != 0) goto bad;
  t->wm = wm;
  t->now = now;
  t->next_early = next_early;
  t->seq = seq;
  t->st.records_in = c[0];
  t->st.records_out = c[1];
  t->st.late = c[2];
  t->st.dlq = c[3];
  t->st.filtered = c[4];
  t->st.skipped = c[5];
  t->st.windows_fired = c[6];
  return 0;
bad:
  reset_state(t);
  return rc;
}

/* ---- partitioning -------------------------------------------------------------------- */

int32_t rn_fn_murmur2(const void *key, size_t len) {
  const uint8_t *d = key;
  const uint32_t m = 0x5bd1e995u;
  uint32_t h = 0x9747b28cu ^ (uint32_t)len;
  size_t n4 = len / 4;
  for (size_t i = 0; i < n4; i++) {
    const uint8_t *q = d + i * 4;
    uint32_t k = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint8_t *tail = d + (len & ~(size_t)3);
  switch (len % 4) {
    case 3:
      h ^= (uint32_t)tail[2] << 16;
      /* fall through */
    case 2:
      h ^= (uint32_t)tail[1] << 8;
      /* fall through */
    case 1:
      h ^= tail[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return (int32_t)h;
}

int32_t rn_fn_kafka_partition(const void *key, size_t len, int32_t nparts) {
  if (nparts <= 0) return 0;
  return (int32_t)(((uint32_t)rn_fn_murmur2(key, len) & 0x7fffffffu) % (uint32_t)nparts);
}
