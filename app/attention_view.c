#include "app/attention_view.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/html.h"
#include "tokenizer/tokenizer.h"
#include "weights/hf_model.h"

// One model's pass over the input: tokens and every layer's probabilities.
typedef struct {
    const char *dir;
    HfConfig config;
    int T;            // tokens
    int *ids;         // [T]
    char **pieces;    // [T] token texts
    float *probs;     // [L, NH, T, T]
} ModelView;

static void view_free(ModelView *v) {
    if (v->pieces)
        for (int i = 0; i < v->T; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->ids);
    free(v->probs);
}

static int run_model(ModelView *v, const AttentionViewOptions *o, const char *dir, Err *err) {
    v->dir = dir;
    if (hf_config_load(dir, &v->config, err) != 0) return -1;
    Tokenizer *tok = tok_load(dir, err);
    if (!tok) return -1;
    int rc = -1, max_len = o->max_len;
    int positions = v->config.bert.max_position - v->config.bert.position_offset;
    if (max_len > positions) max_len = positions;
    Bert *model = NULL;
    int *type_ids = err_calloc(err, (size_t)max_len, sizeof(int), "token type ids");
    v->ids = err_calloc(err, (size_t)max_len, sizeof(int), "token ids");
    if (!type_ids || !v->ids) goto done;
    v->T = tok_encode(tok, o->text, o->pair, max_len, v->ids, type_ids, err);
    if (v->T < 0) {
        err_prefix(err, "--text%s", o->pair ? "/--pair" : "");
        goto done;
    }
    v->pieces = err_calloc(err, (size_t)v->T, sizeof(char *), "token texts");
    if (!v->pieces) goto done;
    for (int i = 0; i < v->T; i++) {
        const char *piece = tok_id_to_piece(tok, v->ids[i]);
        v->pieces[i] = strdup(piece ? piece : "?");
        if (!v->pieces[i]) {
            err_set(err, "out of memory copying token texts");
            goto done;
        }
    }
    HfLoadReport report;
    model = hf_load_model(dir, &v->config, 0, 1, v->T, 0, &report, err);
    // Every layer's activations are kept only when training is possible.
    if (!model || bert_enable_grads(model, err) != 0) goto done;
    bert_output_all_tokens(model, 1);
    int lengths[1] = {v->T};
    BertInput in = {1, v->T, v->ids, type_ids, lengths};
    if (bert_forward(model, &in, NULL, err) != 0) goto done;
    const BertConfig *c = bert_config(model);
    size_t per_layer = (size_t)c->num_heads * v->T * v->T;
    v->probs = err_calloc(err, per_layer * c->num_layers, sizeof(float), "attention probabilities");
    if (!v->probs) goto done;
    for (int l = 0; l < c->num_layers; l++) {
        const real *p = bert_attention_probs(model, l);
        if (!p) {
            err_set(err, "%s: layer %d: attention probabilities not kept", dir, l);
            goto done;
        }
        for (size_t i = 0; i < per_layer; i++) v->probs[l * per_layer + i] = (float)p[i];
    }
    rc = 0;
done:
    bert_free(model);
    free(type_ids);
    tok_free(tok);
    return rc;
}

// ------------------------------------------------------------ drawing

typedef struct {
    int layer0, layer1, head0, head1;  // drawn ranges [0, n)
    double cell, font;                 // cell size and label font size (px)
    double label_w;                    // room for the query tokens left of a row
    double panel;                      // T * cell
    double width, height;
} Layout;

enum { TITLE_H = 30, PANEL_TITLE_H = 14, GAP = 12, GROUP_GAP = 36 };

static void layout(Layout *lay, const ModelView *v, const AttentionViewOptions *o) {
    const BertConfig *c = &v->config.bert;
    lay->layer0 = o->layer >= 0 ? o->layer : 0;
    lay->layer1 = o->layer >= 0 ? o->layer + 1 : c->num_layers;
    lay->head0 = o->head >= 0 ? o->head : 0;
    lay->head1 = o->head >= 0 ? o->head + 1 : c->num_heads;
    int single = lay->layer1 - lay->layer0 == 1 && lay->head1 - lay->head0 == 1;
    double cell = (single ? 480.0 : 160.0) / v->T;
    // At least room for a panel's "L11 H11" title.
    double lo = single ? 10 : fmax(8, 48.0 / v->T), hi = single ? 32 : fmax(14, 48.0 / v->T);
    lay->cell = cell < lo ? lo : cell > hi ? hi : cell;
    lay->font = lay->cell * 0.8 < 12 ? lay->cell * 0.8 : 12;
    size_t longest = 1;
    for (int i = 0; i < v->T; i++)
        if (strlen(v->pieces[i]) > longest) longest = strlen(v->pieces[i]);
    if (longest > 16) longest = 16;
    lay->label_w = (double)longest * lay->font * 0.62 + 6;
    lay->panel = v->T * lay->cell;
    int rows = lay->layer1 - lay->layer0, cols = lay->head1 - lay->head0;
    lay->width = lay->label_w + cols * (lay->panel + GAP);
    double title_w = (double)(strlen(v->dir) + 24) * 8.5;  // the model's title, 14px bold
    if (lay->width < title_w) lay->width = title_w;
    lay->height = TITLE_H + lay->label_w + rows * (PANEL_TITLE_H + lay->panel + GAP);
}

// Token text for a label: at most 16 characters (cut at a UTF-8 boundary).
static void token_label(Html *h, const char *piece) {
    char cut[80];
    size_t n = strlen(piece);
    if (n > 16) {
        size_t k = 15;
        while (k > 0 && ((unsigned char)piece[k] & 0xC0) == 0x80) k--;
        snprintf(cut, sizeof cut, "%.*s~", (int)k, piece);
        piece = cut;
    }
    html_text(h, piece);
}

// White to dark blue; the square root spreads out the small probabilities.
static void cell_color(char *out, size_t cap, float p) {
    double s = sqrt(p > 1 ? 1.0 : (double)p);
    int r = (int)lround(247 + s * (8 - 247)), g = (int)lround(251 + s * (48 - 251)),
        b = (int)lround(255 + s * (107 - 255));
    snprintf(out, cap, "#%02x%02x%02x", r, g, b);
}

static void draw_panel(Html *h, const ModelView *v, const Layout *lay, int l, int hd, double x0,
                       double y0) {
    const int T = v->T, NH = v->config.bert.num_heads;
    const float *p = v->probs + ((size_t)l * NH + hd) * T * T;
    html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" style=\"font-size:11px\">L%d H%d</text>\n",
                x0, y0 - 3, l, hd);
    html_printf(h, "<g class=\"panel\" data-layer=\"%d\" data-head=\"%d\">\n", l, hd);
    for (int q = 0; q < T; q++)
        for (int k = 0; k < T; k++) {
            float pk = p[(size_t)q * T + k];
            char fill[32];
            if (pk == 0.0f)
                snprintf(fill, sizeof fill, "url(#exact-zero)");
            else
                cell_color(fill, sizeof fill, pk);
            html_printf(h, "<rect class=\"cell%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                           "fill=\"%s\"><title>",
                        pk == 0.0f ? " zero" : "", x0 + k * lay->cell, y0 + q * lay->cell, lay->cell,
                        lay->cell, fill);
            token_label(h, v->pieces[q]);
            html_printf(h, " -> ");
            token_label(h, v->pieces[k]);
            html_printf(h, ": %.9g</title></rect>\n", pk);
        }
    html_printf(h, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
                   "stroke=\"#888\"/>\n</g>\n", x0, y0, lay->panel, lay->panel);
}

static void draw_model(Html *h, const ModelView *v, const Layout *lay, double gx) {
    const AttnMap *attn = &v->config.bert.attn;
    html_printf(h, "<g class=\"model\">\n<text x=\"%.1f\" y=\"18\" style=\"font-size:14px;font-weight:bold\">",
                gx);
    html_text(h, v->dir);
    char map[64];
    html_printf(h, ": %s", attn_map_format(map, sizeof map, *attn));
    html_printf(h, "</text>\n");
    double top = TITLE_H + lay->label_w;  // key tokens stand above the first row
    for (int hd = lay->head0; hd < lay->head1; hd++) {
        double x = gx + lay->label_w + (hd - lay->head0) * (lay->panel + GAP);
        for (int k = 0; k < v->T; k++) {
            double cx = x + (k + 0.5) * lay->cell + lay->font * 0.35;
            html_printf(h, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
                           "style=\"font-size:%.1fpx\">", cx, top - PANEL_TITLE_H - 2, lay->font);
            token_label(h, v->pieces[k]);
            html_printf(h, "</text>\n");
        }
    }
    for (int l = lay->layer0; l < lay->layer1; l++) {
        double y = top + (l - lay->layer0) * (PANEL_TITLE_H + lay->panel + GAP);
        for (int q = 0; q < v->T; q++) {
            html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" style=\"font-size:%.1fpx\">",
                        gx + lay->label_w - 4, y + (q + 0.5) * lay->cell + lay->font * 0.35, lay->font);
            token_label(h, v->pieces[q]);
            html_printf(h, "</text>\n");
        }
        for (int hd = lay->head0; hd < lay->head1; hd++)
            draw_panel(h, v, lay, l, hd, gx + lay->label_w + (hd - lay->head0) * (lay->panel + GAP), y);
    }
    html_printf(h, "</g>\n");
}

static void draw_svg(Html *h, const ModelView *views, const Layout *lays, int n) {
    enum { KEY_H = 28 };
    double width = 0, height = 0;
    for (int i = 0; i < n; i++) {
        width += lays[i].width + (i ? GROUP_GAP : 0);
        if (lays[i].height > height) height = lays[i].height;
    }
    if (width < 420) width = 420;
    height += KEY_H;
    html_printf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"attention\" width=\"%.0f\" "
                   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
                   "<defs><pattern id=\"exact-zero\" width=\"5\" height=\"5\" "
                   "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                   "<rect width=\"5\" height=\"5\" fill=\"#fff3e0\"/>"
                   "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#e08a3c\" stroke-width=\"2\"/>"
                   "</pattern></defs>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
                width, height, width, height);
    double gx = 0;
    for (int i = 0; i < n; i++) {
        draw_model(h, &views[i], &lays[i], gx);
        gx += lays[i].width + GROUP_GAP;
    }
    // The key: hatched = exactly 0, then the colour scale.
    double y = height - KEY_H + 8;
    html_printf(h, "<g class=\"key\"><rect x=\"4\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"url(#exact-zero)\" "
                   "stroke=\"#888\"/><text x=\"22\" y=\"%.0f\" style=\"font-size:11px\">exactly 0</text>\n",
                y, y + 11);
    const float stops[] = {1e-4f, 0.01f, 0.1f, 0.5f, 1.0f};
    for (int i = 0; i < 5; i++) {
        char fill[32];
        cell_color(fill, sizeof fill, stops[i]);
        double x = 100 + i * 62;
        html_printf(h, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"#888\"/>"
                       "<text x=\"%.0f\" y=\"%.0f\" style=\"font-size:11px\">%g</text>\n",
                    x, y, fill, x + 18, y + 11, stops[i]);
    }
    html_printf(h, "</g>\n</svg>\n");
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int check_choice(const ModelView *v, const AttentionViewOptions *o, Err *err) {
    const BertConfig *c = &v->config.bert;
    if (o->layer >= c->num_layers)
        return err_set(err, "--layer %d: %s has layers 0..%d", o->layer, v->dir, c->num_layers - 1);
    if (o->head >= c->num_heads)
        return err_set(err, "--head %d: %s has heads 0..%d", o->head, v->dir, c->num_heads - 1);
    return 0;
}

int attention_view_run(const AttentionViewOptions *o, Err *err) {
    int html = ends_with(o->out, ".html"), svg = ends_with(o->out, ".svg");
    if (!html && !svg) return err_set(err, "--out %s: expected a FILE.svg or FILE.html", o->out);
    if (o->layer < -1 || o->head < -1)
        return err_set(err, "--layer / --head: expected an index >= 0");
    if (!o->text || !*o->text) return err_set(err, "--text: expected a non-empty text");
    ModelView views[2] = {0};
    Layout lays[2];
    int n = o->compare_dir ? 2 : 1, rc = -1;
    const char *dirs[2] = {o->model_dir, o->compare_dir};
    Html h = {0};
    for (int i = 0; i < n; i++) {
        if (run_model(&views[i], o, dirs[i], err) != 0 || check_choice(&views[i], o, err) != 0)
            goto done;
        layout(&lays[i], &views[i], o);
    }
    if (html) {
        html_page_begin(&h, "Attention maps");
        html_printf(&h, "<h1>Attention probabilities</h1>\n<p class=\"note\">");
        html_text(&h, o->text);
        if (o->pair) {
            html_printf(&h, " | ");
            html_text(&h, o->pair);
        }
        html_printf(&h, "<br>Rows: queries, columns: keys. Hatched cells are exactly 0; the "
                        "colour of the others grows with the square root of the probability.</p>\n"
                        "<div style=\"overflow-x:auto\">\n");
    }
    draw_svg(&h, views, lays, n);
    if (html) {
        html_printf(&h, "</div>\n");
        html_page_end(&h);
    }
    rc = html_write(&h, o->out, err);
done:
    html_free(&h);
    for (int i = 0; i < n; i++) view_free(&views[i]);
    return rc;
}
