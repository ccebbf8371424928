package org.brillsson.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

public class EarlyExitPolicyTest {
    private static final float[] ONE_HOT = {0f, 0f, 1f, 0f};
    private static final float[] HALF = {0.5f, 0.5f, 0f, 0f};          // entropy exactly 0.5
    private static final float[] UNIFORM = {0.25f, 0.25f, 0.25f, 0.25f}; // entropy exactly 1

    @Test
    public void stopsAtOrBelowThreshold() {
        EarlyExitPolicy policy = new EarlyExitPolicy(0.5);
        assertTrue(policy.shouldStop(HALF, 0, 3));
        assertTrue(policy.shouldStop(ONE_HOT, 0, 3));
        assertFalse(policy.shouldStop(UNIFORM, 0, 3));
        assertFalse(new EarlyExitPolicy(Math.nextDown(0.5)).shouldStop(HALF, 1, 3));
    }

    @Test
    public void lastExitAlwaysStops() {
        EarlyExitPolicy policy = new EarlyExitPolicy(0.0);
        assertFalse(policy.shouldStop(UNIFORM, 1, 3));
        assertTrue(policy.shouldStop(UNIFORM, 2, 3));
        assertTrue(policy.shouldStop(UNIFORM, 0, 1));
    }

    @Test
    public void thresholdZeroStopsOnlyOnOneHot() {
        EarlyExitPolicy policy = new EarlyExitPolicy(0.0);
        assertTrue(policy.shouldStop(ONE_HOT, 0, 2));
        assertFalse(policy.shouldStop(new float[] {0.999f, 0.001f, 0f, 0f}, 0, 2));
    }

    @Test
    public void thresholdOneStopsOnExactlyUniform() {
        assertTrue(new EarlyExitPolicy(1.0).shouldStop(UNIFORM, 0, 2));
    }

    @Test
    public void floatThresholdWidens() {
        EarlyExitPolicy policy = new EarlyExitPolicy(0.3f);
        assertEquals((double) 0.3f, policy.threshold(), 0.0);
    }

    @Test
    public void decidePicksFirstStoppingExit() {
        Decision d = new EarlyExitPolicy(0.6).decide(new float[][] {UNIFORM, HALF, ONE_HOT});
        assertEquals(2, d.exit);
        assertEquals(0, d.label);          // tie 0.5/0.5 -> lowest id
        assertEquals(0.5f, d.probability, 0f);
        assertArrayEquals(new double[] {1.0, 0.5}, d.entropies, 0.0);
    }

    @Test
    public void decideFallsBackToLastExit() {
        Decision d = new EarlyExitPolicy(0.1).decide(new float[][] {UNIFORM, HALF, {0.1f, 0.2f, 0.3f, 0.4f}});
        assertEquals(3, d.exit);
        assertEquals(3, d.label);
        assertEquals(0.4f, d.probability, 0f);
        assertEquals(3, d.entropies.length);
    }

    @Test
    public void runDoesNotEvaluateLaterExits() {
        final float[][] probs = {UNIFORM, ONE_HOT, HALF, UNIFORM};
        final List<Integer> evaluated = new ArrayList<>();
        Decision d = new EarlyExitPolicy(0.2).run(probs.length, new EarlyExitPolicy.ExitSource() {
            @Override
            public float[] probs(int k) {
                evaluated.add(k);
                return probs[k];
            }
        });
        assertEquals(2, d.exit);
        assertEquals(2, d.label);
        assertEquals(java.util.Arrays.asList(0, 1), evaluated);
    }

    @Test
    public void argmaxTiesGoToLowestIndex() {
        assertEquals(1, Decision.argmax(new float[] {0.1f, 0.45f, 0.45f}));
        assertEquals(0, Decision.argmax(new float[] {0.25f, 0.25f, 0.25f, 0.25f}));
        assertEquals(2, Decision.argmax(new float[] {0.1f, 0.2f, 0.7f}));
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsExitIndexOutOfRange() {
        new EarlyExitPolicy(0.5).shouldStop(HALF, 3, 3);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsNaNThreshold() {
        new EarlyExitPolicy(Double.NaN);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsNoExits() {
        new EarlyExitPolicy(0.5).decide(new float[0][]);
    }
}
