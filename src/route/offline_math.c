/*
 * offline_math.c — the cost–accuracy curve metrics of offline evaluation (see offline.h for the
 * definitions and their sources). Pure functions over small arrays of points.
 */
#include "belt_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "belt.h"

#include "route/offline.h"

static int by_cost(const void *a, const void *b)
{
    const struct belt__curve_point *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->accuracy != y->accuracy)
        return x->accuracy > y->accuracy ? -1 : 1; /* best first among equal costs */
    return 0;
}

static int by_share(const void *a, const void *b)
{
    const struct belt__curve_point *x = a, *y = b;
    if (x->strong_share != y->strong_share)
        return x->strong_share < y->strong_share ? -1 : 1;
    return x->accuracy < y->accuracy ? -1 : x->accuracy > y->accuracy;
}

/* Cross product of (b - a) × (c - a): > 0 when a → b → c turns left (counter-clockwise). */
static double cross(const struct belt__curve_point *a, const struct belt__curve_point *b,
                    const struct belt__curve_point *c)
{
    return (b->cost - a->cost) * (c->accuracy - a->accuracy) -
           (b->accuracy - a->accuracy) * (c->cost - a->cost);
}

size_t belt__curve_hull(const struct belt__curve_point *pts, size_t n,
                        struct belt__curve_point *hull)
{
    if (n == 0)
        return 0;
    /* Sorted in place in `hull`; the chain below writes index k while reading i >= k. */
    memmove(hull, pts, n * sizeof(*hull));
    qsort(hull, n, sizeof(*hull), by_cost);
    /* The hull ends at the most accurate point (the cheapest of those); beyond it, flat. */
    size_t top = 0;
    for (size_t i = 1; i < n; i++)
        if (hull[i].accuracy > hull[top].accuracy)
            top = i;
    size_t k = 0;
    for (size_t i = 0; i <= top; i++) {
        struct belt__curve_point p = hull[i];
        if (k > 0 && p.cost == hull[k - 1].cost)
            continue; /* same cost, lower accuracy (sorted best first) */
        while (k >= 2 && cross(&hull[k - 2], &hull[k - 1], &p) >= 0)
            k--; /* hull[k-1] lies on or below the chord: not on the upper hull */
        hull[k++] = p;
    }
    return k;
}

double belt__hull_at(const struct belt__curve_point *hull, size_t n, double c)
{
    if (n == 0 || c < hull[0].cost)
        return 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (c <= hull[i + 1].cost) {
            double w = hull[i + 1].cost - hull[i].cost;
            double t = w > 0 ? (c - hull[i].cost) / w : 1;
            return hull[i].accuracy + t * (hull[i + 1].accuracy - hull[i].accuracy);
        }
    }
    return hull[n - 1].accuracy;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double belt__curve_aiq(const struct belt__curve_point *hull, size_t n, double c_min, double c_max)
{
    if (!(c_max > c_min) || n == 0)
        return NAN;
    double *xs = belt_malloc((n + 2) * sizeof(double));
    if (!xs)
        return NAN;
    size_t k = 0;
    xs[k++] = c_min;
    xs[k++] = c_max;
    for (size_t i = 0; i < n; i++)
        if (hull[i].cost > c_min && hull[i].cost < c_max)
            xs[k++] = hull[i].cost;
    qsort(xs, k, sizeof(double), cmp_double);
    double area = 0;
    for (size_t i = 0; i + 1 < k; i++) {
        double a = xs[i], b = xs[i + 1];
        if (b <= a || b <= hull[0].cost)
            continue; /* nothing is reachable below the cheapest point */
        double fa = a < hull[0].cost ? hull[0].accuracy : belt__hull_at(hull, n, a);
        area += (fa + belt__hull_at(hull, n, b)) / 2 * (b - a);
    }
    belt_free(xs);
    return area / (c_max - c_min);
}

/* pts sorted by strong share into a new array (caller frees), NULL on OOM. */
static struct belt__curve_point *sorted_by_share(const struct belt__curve_point *pts, size_t n)
{
    struct belt__curve_point *s = belt_malloc((n ? n : 1) * sizeof(*s));
    if (!s)
        return NULL;
    memcpy(s, pts, n * sizeof(*s));
    qsort(s, n, sizeof(*s), by_share);
    return s;
}

double belt__curve_apgr(const struct belt__curve_point *pts, size_t n, double weak_acc,
                        double strong_acc)
{
    if (n < 1 || !(strong_acc != weak_acc))
        return NAN;
    struct belt__curve_point *s = belt_malloc((n + 2) * sizeof(*s));
    if (!s)
        return NAN;
    /* the curve, sorted by share, joined to (0, weak) and (1, strong) where it stops short */
    memcpy(s + 1, pts, n * sizeof(*s));
    qsort(s + 1, n, sizeof(*s), by_share);
    size_t a = 1, b = n + 1;
    if (s[1].strong_share > 0)
        s[--a] = (struct belt__curve_point){0, 0, weak_acc, 0};
    if (s[n].strong_share < 1)
        s[b++] = (struct belt__curve_point){0, 0, strong_acc, 1};
    double span = s[b - 1].strong_share - s[a].strong_share, auc = 0;
    for (size_t i = a; i + 1 < b; i++)
        auc +=
            (s[i].accuracy + s[i + 1].accuracy) / 2 * (s[i + 1].strong_share - s[i].strong_share);
    belt_free(s);
    if (!(span > 0))
        return NAN;
    return (auc - weak_acc * span) / ((strong_acc - weak_acc) * span);
}

double belt__curve_cpt(const struct belt__curve_point *pts, size_t n, double weak_acc,
                       double strong_acc, double frac)
{
    if (n == 0)
        return NAN;
    double target = weak_acc + frac * (strong_acc - weak_acc);
    struct belt__curve_point *s = sorted_by_share(pts, n);
    if (!s)
        return NAN;
    double out = NAN;
    if (s[0].accuracy >= target) {
        out = s[0].strong_share;
    } else {
        for (size_t i = 0; i + 1 < n; i++) {
            if (s[i].accuracy < target && s[i + 1].accuracy >= target) {
                double t = (target - s[i].accuracy) / (s[i + 1].accuracy - s[i].accuracy);
                out = s[i].strong_share + t * (s[i + 1].strong_share - s[i].strong_share);
                break;
            }
        }
    }
    belt_free(s);
    return out;
}

double belt__curve_cost_at(const struct belt__curve_point *pts, size_t n, double target)
{
    double best = NAN;
    for (size_t i = 0; i < n; i++)
        if (pts[i].accuracy >= target && (isnan(best) || pts[i].cost < best))
            best = pts[i].cost;
    return best;
}

double belt__hull_cost_at(const struct belt__curve_point *hull, size_t n, double target)
{
    for (size_t i = 0; i < n; i++) {
        if (hull[i].accuracy >= target) {
            if (i == 0)
                return hull[0].cost;
            const struct belt__curve_point *a = &hull[i - 1], *b = &hull[i];
            double t = (target - a->accuracy) / (b->accuracy - a->accuracy);
            return a->cost + t * (b->cost - a->cost);
        }
    }
    return NAN;
}
