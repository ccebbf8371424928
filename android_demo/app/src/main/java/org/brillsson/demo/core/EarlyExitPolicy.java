package org.brillsson.demo.core;

/**
 * Stop rule for a staged early-exit model: answer at the first exit whose normalized entropy is
 * at or below the threshold, or at the last exit.
 *
 * <p>Use {@link #run} to drive real stages lazily, so later stages are never executed once an
 * exit answers; {@link #decide} does the same on precomputed probabilities (tests, vectors):
 *
 * <pre>{@code
 * EarlyExitPolicy policy = new EarlyExitPolicy(0.31);
 * Decision d = policy.run(numExits, k -> model.runStage(k));  // k is 0-based
 * if (policy.shouldStop(probs, k, numExits)) { ... }           // the single-exit test
 * }</pre>
 *
 * <p>The threshold is a double so that thresholds written by the Python side compare exactly as
 * they do there; a float argument widens automatically.
 */
public final class EarlyExitPolicy {
    /** Produces the class probabilities of exit {@code exitIndex0} (0-based), running its stage. */
    public interface ExitSource {
        float[] probs(int exitIndex0);
    }

    private final double threshold;

    public EarlyExitPolicy(double threshold) {
        if (Double.isNaN(threshold)) {
            throw new IllegalArgumentException("threshold must be a number");
        }
        this.threshold = threshold;
    }

    public double threshold() {
        return threshold;
    }

    /** True if exit {@code exitIndex0} (0-based) of {@code numExits} should answer with {@code probs}. */
    public boolean shouldStop(float[] probs, int exitIndex0, int numExits) {
        return shouldStop(Entropy.normalized(probs), exitIndex0, numExits);
    }

    /** Same as {@link #shouldStop(float[], int, int)} for an already computed normalized entropy. */
    public boolean shouldStop(double normalizedEntropy, int exitIndex0, int numExits) {
        if (exitIndex0 < 0 || exitIndex0 >= numExits) {
            throw new IllegalArgumentException(
                    "exit index " + exitIndex0 + " out of range for " + numExits + " exits");
        }
        return normalizedEntropy <= threshold || exitIndex0 == numExits - 1;
    }

    /** Evaluates exits in order through {@code source}, stopping at the first that answers. */
    public Decision run(int numExits, ExitSource source) {
        if (numExits <= 0) {
            throw new IllegalArgumentException("need at least one exit, got " + numExits);
        }
        double[] entropies = new double[numExits];
        for (int k = 0; ; k++) {
            float[] probs = source.probs(k);
            entropies[k] = Entropy.normalized(probs);
            if (shouldStop(entropies[k], k, numExits)) {
                return Decision.of(k + 1, probs, java.util.Arrays.copyOf(entropies, k + 1));
            }
        }
    }

    /** {@link #run} over precomputed per-exit probabilities {@code perExitProbs[k]}. */
    public Decision decide(final float[][] perExitProbs) {
        return run(perExitProbs.length, new ExitSource() {
            @Override
            public float[] probs(int exitIndex0) {
                return perExitProbs[exitIndex0];
            }
        });
    }
}
