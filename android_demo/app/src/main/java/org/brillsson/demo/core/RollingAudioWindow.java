package org.brillsson.demo.core;

/**
 * Fixed-size ring buffer holding the most recent {@code capacity} audio samples as floats.
 *
 * <p>The recording thread pushes 16-bit PCM chunks, the inference thread takes snapshots; all
 * methods are synchronized, so one window can be shared between the two threads.
 *
 * <pre>{@code
 * RollingAudioWindow window = new RollingAudioWindow(16000);
 * window.push(pcmChunk, samplesRead);   // short[] from AudioRecord, scaled by 1/32768
 * float[] clip = window.snapshot();     // 16000 samples, oldest first, zero-padded at the start
 * }</pre>
 */
public final class RollingAudioWindow {
    private final float[] ring;
    private int next;      // index the next sample is written to
    private long written;  // total samples pushed so far

    public RollingAudioWindow(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive, got " + capacity);
        }
        ring = new float[capacity];
    }

    /** Appends the first {@code n} samples of 16-bit PCM, converting each to {@code s / 32768f}. */
    public synchronized void push(short[] pcm, int n) {
        checkCount(pcm.length, n);
        for (int i = skipped(n); i < n; i++) {
            put(pcm[i] / 32768f);
        }
    }

    /** Appends the first {@code n} float samples unchanged. */
    public synchronized void push(float[] x, int n) {
        checkCount(x.length, n);
        for (int i = skipped(n); i < n; i++) {
            put(x[i]);
        }
    }

    /**
     * Returns a new array with the latest {@code capacity()} samples, oldest first. When fewer
     * samples have arrived, the missing ones are zeros at the start.
     */
    public synchronized float[] snapshot() {
        int cap = ring.length;
        float[] out = new float[cap];
        int have = filled();
        int start = (int) ((next - have + (long) cap) % cap);  // oldest available sample
        for (int i = 0; i < have; i++) {
            out[cap - have + i] = ring[(start + i) % cap];
        }
        return out;
    }

    /** Number of real samples in the window: {@code min(samples pushed, capacity())}. */
    public synchronized int filled() {
        return (int) Math.min(written, ring.length);
    }

    public int capacity() {
        return ring.length;
    }

    /** Forgets all samples. */
    public synchronized void clear() {
        java.util.Arrays.fill(ring, 0f);
        next = 0;
        written = 0;
    }

    private void put(float v) {
        ring[next] = v;
        next = (next + 1) % ring.length;
        written++;
    }

    /** Samples at the start of a chunk that would be overwritten within the same push anyway. */
    private int skipped(int n) {
        int extra = n - ring.length;
        if (extra > 0) {
            written += extra;
            next = (int) ((next + (long) extra) % ring.length);
            return extra;
        }
        return 0;
    }

    private static void checkCount(int length, int n) {
        if (n < 0 || n > length) {
            throw new IllegalArgumentException("n must be in [0, " + length + "], got " + n);
        }
    }
}
