/*
 * calib.c — temperature scaling (Guo et al., 2017): one scalar T fitted on held-out logits by
 * minimising the negative log-likelihood of softmax(logits / T). The NLL is convex in 1/T, so
 * a golden-section search over log T finds the minimum reliably in a few dozen evaluations.
 */
#include "belt_config.h"

#include <math.h>

#include "learn/classifier.h"

double belt__calib_nll(const float *logits, const int *gold, size_t n, size_t n_labels,
                       double temperature)
{
    if (n == 0)
        return 0.0;
    const double inv_t = 1.0 / temperature;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * n_labels;
        double mx = z[0];
        for (size_t l = 1; l < n_labels; l++)
            mx = z[l] > mx ? z[l] : mx;
        double sum = 0.0;
        for (size_t l = 0; l < n_labels; l++)
            sum += exp((z[l] - mx) * inv_t);
        double lz = (z[gold[i]] - mx) * inv_t - log(sum);
        total -= lz;
    }
    return total / (double)n;
}

double belt__calib_fit_temperature(const float *logits, const int *gold, size_t n, size_t n_labels)
{
    if (n == 0)
        return 1.0;
    const double phi = 0.6180339887498949;
    double a = log(0.05), b = log(20.0);
    double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
    double f1 = belt__calib_nll(logits, gold, n, n_labels, exp(x1));
    double f2 = belt__calib_nll(logits, gold, n, n_labels, exp(x2));
    for (int it = 0; it < 40; it++) {
        if (f1 < f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - phi * (b - a);
            f1 = belt__calib_nll(logits, gold, n, n_labels, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + phi * (b - a);
            f2 = belt__calib_nll(logits, gold, n, n_labels, exp(x2));
        }
    }
    return exp((a + b) / 2);
}
