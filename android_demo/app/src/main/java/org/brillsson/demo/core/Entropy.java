package org.brillsson.demo.core;

/**
 * Normalized Shannon entropy of a probability vector, the early-exit confidence measure.
 *
 * <pre>{@code
 * double h = Entropy.normalized(new float[] {0.7f, 0.2f, 0.1f});  // ~0.7298
 * }</pre>
 *
 * <p>{@code H(p) / ln(C)} with natural logarithms and {@code C = p.length}: 0 for a one-hot
 * vector, 1 for a uniform one. Entries {@code <= 0} contribute nothing. Computed in double,
 * summing the terms in index order, so it matches the Python runtime's float64 value.
 */
public final class Entropy {
    private Entropy() {}

    /** Returns {@code H(p) / ln(p.length)}, or 0 when {@code p.length == 1}. */
    public static double normalized(float[] p) {
        if (p == null || p.length == 0) {
            throw new IllegalArgumentException("probability vector must not be empty");
        }
        if (p.length == 1) {
            return 0.0;
        }
        double h = 0.0;
        for (float v : p) {
            if (v > 0f) {
                double q = v;
                h -= q * Math.log(q);
            }
        }
        return h / Math.log(p.length);
    }
}
