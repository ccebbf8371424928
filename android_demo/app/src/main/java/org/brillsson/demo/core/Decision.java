package org.brillsson.demo.core;

import java.util.Arrays;

/**
 * Outcome of one early-exit inference: which exit answered and what it said.
 *
 * <pre>{@code
 * Decision d = new EarlyExitPolicy(0.3).decide(perExitProbs);
 * String text = labels.name(d.label) + " p=" + d.probability + " exit " + d.exit;
 * }</pre>
 */
public final class Decision {
    /** 1-based index of the exit that answered. */
    public final int exit;
    /** Class id: argmax of that exit's probabilities (ties go to the lowest id). */
    public final int label;
    /** Probability of {@link #label} at that exit. */
    public final float probability;
    /** Normalized entropies of the exits evaluated, in order, up to and including {@link #exit}. */
    public final double[] entropies;

    public Decision(int exit, int label, float probability, double[] entropies) {
        this.exit = exit;
        this.label = label;
        this.probability = probability;
        this.entropies = entropies.clone();
    }

    /** Builds the decision for exit {@code exit} (1-based) answering with {@code probs}. */
    public static Decision of(int exit, float[] probs, double[] entropies) {
        int label = argmax(probs);
        return new Decision(exit, label, probs[label], entropies);
    }

    /** Index of the largest entry; the lowest index wins ties. */
    public static int argmax(float[] p) {
        if (p == null || p.length == 0) {
            throw new IllegalArgumentException("probability vector must not be empty");
        }
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }

    @Override
    public String toString() {
        return "Decision{exit=" + exit + ", label=" + label + ", probability=" + probability
                + ", entropies=" + Arrays.toString(entropies) + "}";
    }
}
