/*
 * ui.h: the web UI's files, embedded in the binary (API).
 *
 * DESIGN §8. The assets live in broker/ui/ as plain HTML, CSS and ES
 * modules (no build step); tools/ui-embed turns them into byte arrays in
 * the generated broker/ui_gen.c (build directory, made by mk/ui.am), and
 * http.c serves them: "/" is index.html, "/ui/PATH" the asset PATH.
 */
#ifndef RN_UI_H
#define RN_UI_H

#include <stddef.h>

typedef struct rn_ui_asset {
  const char *path;         /* relative to broker/ui/, e.g. "pages/topics.js" */
  const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
  const unsigned char *data;
  size_t len; /* bytes */
} rn_ui_asset_t;

/* Every asset, sorted by path (static storage). */
extern const rn_ui_asset_t rn_ui_assets[];
extern const size_t rn_ui_nassets;

/*
 * The asset at path (relative, no leading '/'), or NULL. The result points
 * to static storage. Any thread.
 */
const rn_ui_asset_t *rn_ui_find(const char *path);

#endif
