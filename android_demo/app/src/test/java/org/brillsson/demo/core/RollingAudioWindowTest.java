package org.brillsson.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotSame;

import java.util.Random;
import org.junit.Test;

public class RollingAudioWindowTest {

    @Test
    public void emptyWindowIsAllZeros() {
        RollingAudioWindow w = new RollingAudioWindow(4);
        assertEquals(0, w.filled());
        assertEquals(4, w.capacity());
        assertArrayEquals(new float[4], w.snapshot(), 0f);
    }

    @Test
    public void partialFillIsZeroPaddedAtStart() {
        RollingAudioWindow w = new RollingAudioWindow(5);
        w.push(new float[] {1, 2}, 2);
        assertEquals(2, w.filled());
        assertArrayEquals(new float[] {0, 0, 0, 1, 2}, w.snapshot(), 0f);
    }

    @Test
    public void wrapsAroundKeepingLatestOldestFirst() {
        RollingAudioWindow w = new RollingAudioWindow(4);
        w.push(new float[] {1, 2, 3}, 3);
        w.push(new float[] {4, 5, 6}, 3);
        assertEquals(4, w.filled());
        assertArrayEquals(new float[] {3, 4, 5, 6}, w.snapshot(), 0f);
        w.push(new float[] {7}, 1);
        assertArrayEquals(new float[] {4, 5, 6, 7}, w.snapshot(), 0f);
    }

    @Test
    public void chunkLongerThanCapacityKeepsItsTail() {
        RollingAudioWindow w = new RollingAudioWindow(3);
        w.push(new float[] {9}, 1);
        w.push(new float[] {1, 2, 3, 4, 5, 6, 7}, 7);
        assertArrayEquals(new float[] {5, 6, 7}, w.snapshot(), 0f);
        w.push(new float[] {8}, 1);
        assertArrayEquals(new float[] {6, 7, 8}, w.snapshot(), 0f);
    }

    @Test
    public void onlyFirstNSamplesArePushed() {
        RollingAudioWindow w = new RollingAudioWindow(4);
        w.push(new float[] {1, 2, 99, 99}, 2);
        w.push(new short[] {0, 0, 0}, 0);
        assertEquals(2, w.filled());
        assertArrayEquals(new float[] {0, 0, 1, 2}, w.snapshot(), 0f);
    }

    @Test
    public void pcmIsScaledBy32768() {
        RollingAudioWindow w = new RollingAudioWindow(4);
        w.push(new short[] {16384, -32768, 32767, -1}, 4);
        assertArrayEquals(new float[] {0.5f, -1f, 32767 / 32768f, -1 / 32768f}, w.snapshot(), 0f);
    }

    @Test
    public void snapshotIsACopy() {
        RollingAudioWindow w = new RollingAudioWindow(2);
        w.push(new float[] {1, 2}, 2);
        float[] a = w.snapshot();
        a[0] = 42;
        assertNotSame(a, w.snapshot());
        assertArrayEquals(new float[] {1, 2}, w.snapshot(), 0f);
    }

    @Test
    public void randomChunksMatchAPlainList() {
        Random rnd = new Random(7);
        int cap = 37;
        RollingAudioWindow w = new RollingAudioWindow(cap);
        float[] all = new float[5000];
        int total = 0;
        while (total < 4000) {
            int n = rnd.nextInt(90);
            short[] chunk = new short[n + rnd.nextInt(3)];
            for (int i = 0; i < chunk.length; i++) {
                chunk[i] = (short) (rnd.nextInt(65536) - 32768);
            }
            w.push(chunk, n);
            for (int i = 0; i < n; i++) {
                all[total++] = chunk[i] / 32768f;
            }
            float[] expected = new float[cap];
            int have = Math.min(total, cap);
            System.arraycopy(all, total - have, expected, cap - have, have);
            assertEquals(have, w.filled());
            assertArrayEquals(expected, w.snapshot(), 0f);
        }
    }

    @Test
    public void clearForgetsSamples() {
        RollingAudioWindow w = new RollingAudioWindow(3);
        w.push(new float[] {1, 2, 3, 4}, 4);
        w.clear();
        assertEquals(0, w.filled());
        assertArrayEquals(new float[3], w.snapshot(), 0f);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsZeroCapacity() {
        new RollingAudioWindow(0);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsCountLargerThanArray() {
        new RollingAudioWindow(4).push(new float[2], 3);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsNegativeCount() {
        new RollingAudioWindow(4).push(new short[2], -1);
    }
}
