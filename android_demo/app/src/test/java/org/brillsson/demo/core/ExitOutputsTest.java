package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

public class ExitOutputsTest {

    @Test
    public void findsProbabilitiesInEitherOrder() {
        assertEquals(1, ExitOutputs.probsIndex(new String[] {"StatefulPartitionedCall:0", "StatefulPartitionedCall:1"},
                new int[][] {{1, 49, 40, 32}, {1, 12}}, 12));
        assertEquals(0, ExitOutputs.probsIndex(new String[] {"StatefulPartitionedCall:0", "StatefulPartitionedCall:1"},
                new int[][] {{1, 12}, {1, 49, 40, 32}}, 12));
    }

    @Test
    public void lastStageHasOnlyProbabilities() {
        assertEquals(0, ExitOutputs.probsIndex(new String[] {"out"}, new int[][] {{1, 35}}, 35));
    }

    @Test
    public void nameBreaksShapeTies() {
        assertEquals(0, ExitOutputs.probsIndex(new String[] {"exit_probs", "activation"},
                new int[][] {{1, 12}, {1, 12}}, 12));
        assertEquals(1, ExitOutputs.probsIndex(new String[] {"activation", "Probabilities"},
                new int[][] {{1, 12}, {1, 12}}, 12));
    }

    @Test
    public void explainsWhenNothingMatches() {
        try {
            ExitOutputs.probsIndex(new String[] {"a", "b"}, new int[][] {{1, 10}, {1, 5, 5}}, 12);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("no output of shape [1, 12]"));
            assertTrue(e.getMessage(), e.getMessage().contains("a[1, 10], b[1, 5, 5]"));
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void ambiguousShapesWithoutNamesAreAnError() {
        ExitOutputs.probsIndex(new String[] {"x", "y"}, new int[][] {{1, 12}, {1, 12}}, 12);
    }
}
