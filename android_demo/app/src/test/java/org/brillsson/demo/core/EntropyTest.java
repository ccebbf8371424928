package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.Random;
import org.junit.Test;

public class EntropyTest {

    @Test
    public void uniformIsOne() {
        assertEquals(1.0, Entropy.normalized(new float[] {0.5f, 0.5f}), 0.0);
        assertEquals(1.0, Entropy.normalized(new float[] {0.25f, 0.25f, 0.25f, 0.25f}), 0.0);
        float[] twelve = new float[12];
        java.util.Arrays.fill(twelve, 1f / 12);
        assertEquals(1.0, Entropy.normalized(twelve), 1e-6);
    }

    @Test
    public void oneHotIsZero() {
        assertEquals(0.0, Entropy.normalized(new float[] {0f, 1f, 0f}), 0.0);
    }

    @Test
    public void singleClassIsZero() {
        assertEquals(0.0, Entropy.normalized(new float[] {1f}), 0.0);
        assertEquals(0.0, Entropy.normalized(new float[] {0.3f}), 0.0);
    }

    @Test
    public void knownValue() {
        double p0 = 0.7f, p1 = 0.2f, p2 = 0.1f;
        double expected = -(p0 * Math.log(p0) + p1 * Math.log(p1) + p2 * Math.log(p2)) / Math.log(3);
        assertEquals(expected, Entropy.normalized(new float[] {0.7f, 0.2f, 0.1f}), 0.0);
        assertEquals(0.7298, Entropy.normalized(new float[] {0.7f, 0.2f, 0.1f}), 1e-4);
    }

    @Test
    public void nonPositiveEntriesContributeNothing() {
        assertEquals(0.5, Entropy.normalized(new float[] {0.5f, 0.5f, 0f, 0f}), 0.0);
        assertEquals(0.5, Entropy.normalized(new float[] {0.5f, 0.5f, -0f, -1e-9f}), 0.0);
    }

    @Test
    public void staysWithinUnitIntervalForRandomVectors() {
        Random rnd = new Random(3);
        for (int t = 0; t < 1000; t++) {
            float[] p = new float[2 + rnd.nextInt(40)];
            double sum = 0;
            for (int i = 0; i < p.length; i++) {
                p[i] = (float) Math.pow(rnd.nextDouble(), 4);
                sum += p[i];
            }
            for (int i = 0; i < p.length; i++) {
                p[i] /= (float) sum;
            }
            double h = Entropy.normalized(p);
            assertTrue("h=" + h, h >= 0 && h <= 1 + 1e-6);
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsEmptyVector() {
        Entropy.normalized(new float[0]);
    }
}
