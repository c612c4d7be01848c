/*
 * offline_render.c — renderings of an offline route report: JSON (machine-readable, every
 * figure), text (a terminal summary) and a self-contained HTML page with the cost–accuracy
 * curve, its hull and the single models drawn in inline SVG (no external assets, no script).
 */
#include "belt_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "route/offline.h"
#include "route/sink.h"

/* A bare JSON number, or null for NAN/inf. */
static void num(struct belt__sink *b, double v)
{
    if (isfinite(v))
        out_printf(b, "%.10g", v);
    else
        out_puts(b, "null");
}

/* A JSON number member, or null for NAN/inf. */
static void jnum(struct belt__sink *b, const char *key, double v, int comma)
{
    if (isfinite(v))
        out_printf(b, "%s\"%s\":%.10g", comma ? "," : "", key, v);
    else
        out_printf(b, "%s\"%s\":null", comma ? "," : "", key);
}

static void jstr(struct belt__sink *b, const char *key, const char *s, int comma)
{
    out_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (s)
        out_json(b, s, strlen(s));
    else
        out_puts(b, "null");
}

static double saving(double cost, double base)
{
    return isfinite(cost) && base > 0 ? 1.0 - cost / base : NAN;
}

static void json_points(struct belt__sink *b, const char *key, const struct belt__curve_point *p,
                        size_t n)
{
    out_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        out_puts(b, i ? ",{" : "{");
        jnum(b, "threshold", p[i].threshold, 0);
        jnum(b, "cost_usd_per_task", p[i].cost, 1);
        jnum(b, "accuracy", p[i].accuracy, 1);
        jnum(b, "strong_share", p[i].strong_share, 1);
        out_putc(b, '}');
    }
    out_putc(b, ']');
}

static void json_level(struct belt__sink *b, const char *key, double acc, double cost,
                       double hull_cost, double base)
{
    out_printf(b, ",\"%s\":{", key);
    jnum(b, "accuracy", acc, 0);
    jnum(b, "cost_usd_per_task", cost, 1);
    jnum(b, "saving", saving(cost, base), 1);
    jnum(b, "hull_cost_usd_per_task", hull_cost, 1);
    jnum(b, "hull_saving", saving(hull_cost, base), 1);
    out_putc(b, '}');
}

static void json_op(struct belt__sink *b, const struct belt_route_report *r)
{
    double n = (double)r->n_tasks;
    jnum(b, "accuracy", r->accuracy, 1);
    jnum(b, "cost_usd_total", r->op.cost_total, 1);
    jnum(b, "cost_usd_per_task", r->cost_per_task, 1);
    jnum(b, "calls_per_task", (double)r->op.n_calls / n, 1);
    out_printf(b,
               ",\"outcomes\":{\"answered\":%zu,\"unresolved\":%zu,\"budget\":%zu,"
               "\"failed\":%zu}",
               r->op.outcomes[0], r->op.outcomes[1], r->op.outcomes[2], r->op.outcomes[3]);
    if (r->has_latency) {
        out_puts(b, ",\"latency_ms\":{");
        jnum(b, "mean", r->latency_mean_ms, 0);
        jnum(b, "p50", r->latency_p50_ms, 1);
        jnum(b, "p95", r->latency_p95_ms, 1);
        out_putc(b, '}');
    } else {
        out_puts(b, ",\"latency_ms\":null");
    }
    out_printf(b, ",\"shares\":{\"by\":\"%s\",\"rows\":[", r->shares_by_tier ? "tier" : "model");
    for (size_t i = 0; i < r->n_shares; i++) {
        const struct belt__share_row *s = &r->shares[i];
        out_puts(b, i ? ",{" : "{");
        jstr(b, "name", s->name, 0);
        out_printf(b, ",\"tasks\":%zu", s->n);
        jnum(b, "share", (double)s->n / n, 1);
        jnum(b, "accuracy", (double)s->n_ok / (double)s->n, 1);
        out_putc(b, '}');
    }
    out_puts(b, "]}");
}

char *belt_route_report_json(const struct belt_route_report *r)
{
    struct belt__sink b;
    belt__sink_init(&b, 0);
    out_putc(&b, '{');
    jstr(&b, "route", r->route, 0);
    jstr(&b, "policy", r->kind, 1);
    jstr(&b, "replay", r->replay, 1);
    out_printf(&b, ",\"tasks\":%zu", r->n_tasks);
    json_op(&b, r);
    out_puts(&b, ",\"models\":[");
    for (size_t i = 0; i < r->n_singles; i++) {
        const struct belt__single *s = &r->singles[i];
        out_puts(&b, i ? ",{" : "{");
        jstr(&b, "name", s->name, 0);
        jnum(&b, "accuracy", s->accuracy, 1);
        jnum(&b, "cost_usd_per_task", s->cost, 1);
        out_printf(&b, ",\"in_route\":%s}", s->in_route ? "true" : "false");
    }
    out_putc(&b, ']');
    const struct belt__single *best = r->best == (size_t)-1 ? NULL : &r->singles[r->best];
    jstr(&b, "best_model", best ? best->name : NULL, 1);
    out_puts(&b, ",\"oracle\":{");
    jnum(&b, "accuracy", r->oracle_accuracy, 0);
    jnum(&b, "cost_usd_per_task", r->oracle_cost, 1);
    out_putc(&b, '}');
    if (r->swept) {
        out_puts(&b, ",\"sweep\":{");
        jstr(&b, "varies", r->sweep_what, 0);
        json_points(&b, "points", r->pts, r->n_pts);
        json_points(&b, "hull", r->hull, r->n_hull);
        out_putc(&b, '}');
    } else {
        out_puts(&b, ",\"sweep\":null");
    }
    jnum(&b, "quality", r->quality, 1);
    double bacc = best ? best->accuracy : NAN, bcost = best ? best->cost : NAN;
    json_level(&b, "match_best", bacc, r->cost_best, r->cost_best_hull, bcost);
    json_level(&b, "at_quality", bacc * r->quality, r->cost_q, r->cost_q_hull, bcost);
    jstr(&b, "weak", r->two_tier ? r->weak : NULL, 1);
    jstr(&b, "strong", r->two_tier ? r->strong : NULL, 1);
    jnum(&b, "apgr", r->apgr, 1);
    jnum(&b, "cpt50", r->cpt50, 1);
    jnum(&b, "cpt80", r->cpt80, 1);
    jnum(&b, "aiq", r->aiq, 1);
    out_puts(&b, ",\"aiq_cost_range\":[");
    num(&b, r->aiq_cmin);
    out_putc(&b, ',');
    num(&b, r->aiq_cmax);
    out_putc(&b, ']');
    out_puts(&b, ",\"traces\":");
    out_puts(&b, r->traces ? r->traces : "[]");
    out_puts(&b, "}\n");
    return belt__sink_finish(&b, NULL);
}

/* ---- text ----------------------------------------------------------------------------------- */

static void text_level(struct belt__sink *b, const char *label, double acc, double cost,
                       double hull_cost, double base)
{
    out_printf(b, "  %-22s accuracy %.4f: ", label, acc);
    if (isfinite(cost))
        out_printf(b, "$%.6g/task (saving %.1f%%)", cost, 100 * saving(cost, base));
    else
        out_puts(b, "not reached");
    if (isfinite(hull_cost))
        out_printf(b, "; on the hull $%.6g/task (%.1f%%)", hull_cost,
                   100 * saving(hull_cost, base));
    out_putc(b, '\n');
}

static void text_sweep(struct belt__sink *b, const struct belt_route_report *r)
{
    const struct belt__single *best = r->best == (size_t)-1 ? NULL : &r->singles[r->best];
    if (r->swept)
        out_printf(b, "sweep of %s: %zu points, hull of %zu\n", r->sweep_what, r->n_pts, r->n_hull);
    else
        out_puts(b, "no threshold to sweep: the figures below use the configured route\n");
    if (best) {
        char label[64];
        snprintf(label, sizeof(label), "match %.40s", best->name);
        text_level(b, label, best->accuracy, r->cost_best, r->cost_best_hull, best->cost);
        snprintf(label, sizeof(label), "%.0f%% of %.40s", 100 * r->quality, best->name);
        text_level(b, label, best->accuracy * r->quality, r->cost_q, r->cost_q_hull, best->cost);
    }
    if (r->two_tier)
        out_printf(b, "  APGR %.4f  CPT(50%%) %.1f%%  CPT(80%%) %.1f%%  (weak %s, strong %s)\n",
                   r->apgr, 100 * r->cpt50, 100 * r->cpt80, r->weak, r->strong);
    if (isfinite(r->aiq))
        out_printf(b, "  AIQ %.4f over $%.6g..$%.6g per task\n", r->aiq, r->aiq_cmin, r->aiq_cmax);
}

char *belt_route_report_text(const struct belt_route_report *r)
{
    struct belt__sink b;
    belt__sink_init(&b, 0);
    double n = (double)r->n_tasks;
    out_printf(&b, "route %s (%s) on %s: %zu tasks\n", r->route, r->kind, r->replay, r->n_tasks);
    out_printf(&b, "  accuracy   %.4f  (answered %zu, unresolved %zu, budget %zu, failed %zu)\n",
               r->accuracy, r->op.outcomes[0], r->op.outcomes[1], r->op.outcomes[2],
               r->op.outcomes[3]);
    out_printf(&b, "  cost       $%.6g total, $%.6g per task, %.2f calls per task\n",
               r->op.cost_total, r->cost_per_task, (double)r->op.n_calls / n);
    if (r->has_latency)
        out_printf(&b, "  latency    mean %.0f ms, p50 %.0f ms, p95 %.0f ms\n", r->latency_mean_ms,
                   r->latency_p50_ms, r->latency_p95_ms);
    out_printf(&b, "  %-24s %8s %8s %9s\n", r->shares_by_tier ? "ended at tier" : "answered by",
               "tasks", "share", "accuracy");
    for (size_t i = 0; i < r->n_shares; i++)
        out_printf(&b, "  %-24.24s %8zu %7.1f%% %9.4f\n", r->shares[i].name, r->shares[i].n,
                   100.0 * (double)r->shares[i].n / n,
                   (double)r->shares[i].n_ok / (double)r->shares[i].n);
    out_printf(&b, "%-26s %9s %12s\n", "models alone", "accuracy", "$/task");
    for (size_t i = 0; i < r->n_singles; i++)
        out_printf(&b, "  %-24.24s %9.4f %12.6g%s\n", r->singles[i].name, r->singles[i].accuracy,
                   r->singles[i].cost, i == r->best ? "  (best of the route)" : "");
    out_printf(&b, "  %-24s %9.4f %12.6g\n", "oracle (cheapest right)", r->oracle_accuracy,
               r->oracle_cost);
    text_sweep(&b, r);
    return belt__sink_finish(&b, NULL);
}

/* ---- HTML ----------------------------------------------------------------------------------- */

static void html_text(struct belt__sink *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            out_puts(b, "&lt;");
            break;
        case '>':
            out_puts(b, "&gt;");
            break;
        case '&':
            out_puts(b, "&amp;");
            break;
        case '"':
            out_puts(b, "&quot;");
            break;
        default:
            out_putc(b, *s);
        }
    }
}

/* The plot's frame: data ranges mapped to the SVG box. */
struct plot {
    double x0, x1, y0, y1; /* data ranges */
    double w, h, ml, mt;   /* SVG size and margins */
    double pw, ph;         /* plotting area */
};

static double px(const struct plot *p, double x)
{
    return p->ml + (x - p->x0) / (p->x1 - p->x0) * p->pw;
}

static double py(const struct plot *p, double y)
{
    return p->mt + (1 - (y - p->y0) / (p->y1 - p->y0)) * p->ph;
}

static struct plot plot_frame(const struct belt_route_report *r)
{
    struct plot p = {INFINITY, -INFINITY, INFINITY, -INFINITY, 760, 440, 80, 20, 0, 0};
    p.pw = p.w - p.ml - 30;
    p.ph = p.h - p.mt - 50;
    for (size_t i = 0; i < r->n_pts; i++) {
        p.x1 = BELT_MAX(p.x1, r->pts[i].cost);
        p.y0 = BELT_MIN(p.y0, r->pts[i].accuracy);
        p.y1 = BELT_MAX(p.y1, r->pts[i].accuracy);
    }
    for (size_t i = 0; i < r->n_singles; i++) {
        p.x1 = BELT_MAX(p.x1, r->singles[i].cost);
        p.y0 = BELT_MIN(p.y0, r->singles[i].accuracy);
        p.y1 = BELT_MAX(p.y1, r->singles[i].accuracy);
    }
    p.x1 = BELT_MAX(p.x1, r->cost_per_task);
    p.y0 = BELT_MIN(p.y0, r->accuracy);
    p.y1 = BELT_MAX(p.y1, r->accuracy);
    p.x0 = 0;
    p.x1 = p.x1 > 0 ? p.x1 * 1.05 : 1;
    double pad = BELT_MAX(0.01, (p.y1 - p.y0) * 0.08);
    p.y0 = BELT_MAX(0.0, p.y0 - pad);
    p.y1 = BELT_MIN(1.0, p.y1 + pad);
    if (!(p.y1 > p.y0))
        p.y1 = p.y0 + 0.1;
    return p;
}

static void svg_axes(struct belt__sink *b, const struct plot *p)
{
    out_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"frame\"/>\n",
               p->ml, p->mt, p->pw, p->ph);
    for (int i = 0; i <= 5; i++) {
        double x = p->x0 + (p->x1 - p->x0) * i / 5, y = p->y0 + (p->y1 - p->y0) * i / 5;
        out_printf(b,
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"tx\">$%.3g</text>\n",
                   px(p, x), p->mt, px(p, x), p->mt + p->ph, px(p, x), p->mt + p->ph + 18, x);
        out_printf(b,
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"ty\">%.1f%%</text>\n",
                   p->ml, py(p, y), p->ml + p->pw, py(p, y), p->ml - 6, py(p, y) + 4, 100 * y);
    }
    out_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"lx\">mean cost per task (USD)</text>\n",
               p->ml + p->pw / 2, p->h - 8);
    out_printf(b,
               "<text transform=\"translate(16,%.1f) rotate(-90)\" class=\"lx\">accuracy</text>\n",
               p->mt + p->ph / 2);
}

static void svg_series(struct belt__sink *b, const struct plot *p,
                       const struct belt_route_report *r)
{
    if (r->n_hull) {
        out_puts(b, "<polyline class=\"hull\" points=\"");
        for (size_t i = 0; i < r->n_hull; i++)
            out_printf(b, "%.1f,%.1f ", px(p, r->hull[i].cost), py(p, r->hull[i].accuracy));
        const struct belt__curve_point *last = &r->hull[r->n_hull - 1];
        out_printf(b, "%.1f,%.1f\"/>\n", px(p, p->x1), py(p, last->accuracy));
    }
    for (size_t i = 0; i < r->n_pts; i++)
        out_printf(b,
                   "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" class=\"pt\"><title>threshold %.4g: "
                   "$%.6g/task, accuracy %.4f</title></circle>\n",
                   px(p, r->pts[i].cost), py(p, r->pts[i].accuracy), r->pts[i].threshold,
                   r->pts[i].cost, r->pts[i].accuracy);
    for (size_t i = 0; i < r->n_singles; i++) {
        const struct belt__single *s = &r->singles[i];
        int right = px(p, s->cost) > p->ml + p->pw / 2; /* label on the inner side */
        out_printf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" class=\"model\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"ml\"%s>",
                   px(p, s->cost) - 4.5, py(p, s->accuracy) - 4.5,
                   px(p, s->cost) + (right ? -8 : 8), py(p, s->accuracy) - 8,
                   right ? " text-anchor=\"end\"" : "");
        html_text(b, s->name);
        out_puts(b, "</text>\n");
    }
    out_printf(b,
               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" class=\"op\"><title>as configured: "
               "$%.6g/task, accuracy %.4f</title></circle>\n",
               px(p, r->cost_per_task), py(p, r->accuracy), r->cost_per_task, r->accuracy);
}

static const char html_style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 10px;text-align:right;"
    "border-bottom:1px solid #ddd}td:first-child,th:first-child{text-align:left}"
    ".frame{fill:none;stroke:#999}.grid{stroke:#eee}.tx{font-size:11px;text-anchor:middle}"
    ".ty{font-size:11px;text-anchor:end}.lx{font-size:12px;text-anchor:middle}"
    ".hull{fill:none;stroke:#d62728;stroke-width:2;stroke-dasharray:6 3}"
    ".pt{fill:#1f77b4;opacity:.75}.model{fill:#2ca02c}.ml{font-size:11px}"
    ".op{fill:none;stroke:#ff7f0e;stroke-width:3}.key span{margin-right:1.5em}";

static void html_row(struct belt__sink *b, const char *k, const char *fmt, double v)
{
    out_puts(b, "<tr><td>");
    html_text(b, k);
    out_puts(b, "</td><td>");
    if (isfinite(v))
        out_printf(b, fmt, v);
    else
        out_puts(b, "—");
    out_puts(b, "</td></tr>\n");
}

static void html_tables(struct belt__sink *b, const struct belt_route_report *r)
{
    const struct belt__single *best = r->best == (size_t)-1 ? NULL : &r->singles[r->best];
    out_puts(b, "<table>\n");
    html_row(b, "accuracy (as configured)", "%.4f", r->accuracy);
    html_row(b, "cost per task (USD)", "%.6g", r->cost_per_task);
    html_row(b, "calls per task", "%.3f", (double)r->op.n_calls / (double)r->n_tasks);
    if (r->has_latency)
        html_row(b, "latency p95 (ms)", "%.0f", r->latency_p95_ms);
    if (best) {
        html_row(b, "cost to match the best model", "%.6g", r->cost_best);
        html_row(b, "saving at its accuracy", "%.4f", saving(r->cost_best, best->cost));
        html_row(b, "saving at the quality level", "%.4f", saving(r->cost_q, best->cost));
        html_row(b, "saving at the quality level (hull)", "%.4f",
                 saving(r->cost_q_hull, best->cost));
    }
    html_row(b, "APGR", "%.4f", r->apgr);
    html_row(b, "CPT(50%) strong-call share", "%.4f", r->cpt50);
    html_row(b, "CPT(80%) strong-call share", "%.4f", r->cpt80);
    html_row(b, "AIQ", "%.4f", r->aiq);
    out_puts(b, "</table>\n<table><tr><th>");
    out_puts(b, r->shares_by_tier ? "ended at tier" : "answered by");
    out_puts(b, "</th><th>tasks</th><th>share</th><th>accuracy</th></tr>\n");
    for (size_t i = 0; i < r->n_shares; i++) {
        const struct belt__share_row *s = &r->shares[i];
        out_puts(b, "<tr><td>");
        html_text(b, s->name);
        out_printf(b, "</td><td>%zu</td><td>%.1f%%</td><td>%.4f</td></tr>\n", s->n,
                   100.0 * (double)s->n / (double)r->n_tasks, (double)s->n_ok / (double)s->n);
    }
    out_puts(b, "</table>\n<table><tr><th>model alone</th><th>accuracy</th><th>USD per task"
                "</th></tr>\n");
    for (size_t i = 0; i < r->n_singles; i++) {
        out_puts(b, "<tr><td>");
        html_text(b, r->singles[i].name);
        out_printf(b, "</td><td>%.4f</td><td>%.6g</td></tr>\n", r->singles[i].accuracy,
                   r->singles[i].cost);
    }
    out_printf(b, "<tr><td>oracle</td><td>%.4f</td><td>%.6g</td></tr>\n</table>\n",
               r->oracle_accuracy, r->oracle_cost);
}

char *belt_route_report_html(const struct belt_route_report *r)
{
    struct belt__sink b;
    belt__sink_init(&b, 0);
    out_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    html_text(&b, r->title);
    out_printf(&b, "</title><style>%s</style></head><body>\n<h1>", html_style);
    html_text(&b, r->title);
    out_puts(&b, "</h1>\n<p>Route <b>");
    html_text(&b, r->route);
    out_printf(&b, "</b> (%s) replayed over %zu tasks of <code>", r->kind, r->n_tasks);
    html_text(&b, r->replay);
    out_puts(&b, "</code>.</p>\n");
    struct plot p = plot_frame(r);
    out_printf(&b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"cost and accuracy\">\n",
               p.w, p.h, p.w, p.h);
    svg_axes(&b, &p);
    svg_series(&b, &p, r);
    out_puts(&b, "</svg>\n<p class=\"key\"><span style=\"color:#1f77b4\">● sweep points</span>"
                 "<span style=\"color:#d62728\">-- convex hull</span>"
                 "<span style=\"color:#2ca02c\">■ single models</span>"
                 "<span style=\"color:#ff7f0e\">○ as configured</span></p>\n");
    if (r->swept) {
        out_puts(&b, "<p>The sweep varies ");
        html_text(&b, r->sweep_what);
        out_puts(&b, ".</p>\n");
    }
    html_tables(&b, r);
    out_puts(&b, "<p>APGR and CPT follow RouteLLM (Ong et al., 2024); AIQ follows RouterBench "
                 "(Hu et al., 2024). See docs/cli/eval.md.</p>\n</body></html>\n");
    return belt__sink_finish(&b, NULL);
}
