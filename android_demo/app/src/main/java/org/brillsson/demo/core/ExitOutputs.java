package org.brillsson.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Tells which output of a stage model holds the exit's class probabilities.
 *
 * <p>The probabilities are the output of shape {@code [1, C]} (C = number of labels); if several
 * outputs have that shape, the one whose name contains "prob" wins. Any other output is the
 * activation passed to the next stage, so either output order works.
 *
 * <pre>{@code
 * int p = ExitOutputs.probsIndex(new String[] {"act", "probs"}, new int[][] {{1, 50, 16}, {1, 12}}, 12);
 * // p == 1; output 0 is the activation
 * }</pre>
 */
public final class ExitOutputs {
    private ExitOutputs() {}

    /** Index of the probabilities among outputs with the given names and shapes. */
    public static int probsIndex(String[] names, int[][] shapes, int numClasses) {
        List<Integer> byShape = new ArrayList<>();
        for (int i = 0; i < shapes.length; i++) {
            if (shapes[i].length == 2 && shapes[i][0] == 1 && shapes[i][1] == numClasses) {
                byShape.add(i);
            }
        }
        if (byShape.size() == 1) {
            return byShape.get(0);
        }
        List<Integer> byName = new ArrayList<>();
        for (int i : byShape) {
            if (names[i] != null && names[i].toLowerCase(Locale.ROOT).contains("prob")) {
                byName.add(i);
            }
        }
        if (byName.size() == 1) {
            return byName.get(0);
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < shapes.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(names[i]).append(Arrays.toString(shapes[i]));
        }
        throw new IllegalArgumentException((byShape.isEmpty() ? "no" : "more than one")
                + " output of shape [1, " + numClasses + "] to use as probabilities among: " + sb);
    }
}
