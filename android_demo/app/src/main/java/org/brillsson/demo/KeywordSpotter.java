package org.brillsson.demo;

import android.annotation.SuppressLint;
import android.media.AudioFormat;
import android.media.AudioRecord;
import android.media.MediaRecorder;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.brillsson.demo.core.Decision;
import org.brillsson.demo.core.EarlyExitPolicy;
import org.brillsson.demo.core.RollingAudioWindow;

/**
 * Live keyword spotting: one thread records 16-bit mono PCM into a {@link RollingAudioWindow}
 * of the model's clip length, another runs the staged model on the latest window every
 * {@link #PERIOD_MS} ms with the current early-exit threshold.
 *
 * <pre>{@code
 * KeywordSpotter spotter = new KeywordSpotter(model, 16000, 16000, listener);
 * spotter.setThreshold(0.31);
 * spotter.start();   // needs the RECORD_AUDIO permission; false if the mic failed
 * ...
 * spotter.stop();    // before closing the model
 * }</pre>
 *
 * The listener is called on the inference thread.
 */
final class KeywordSpotter {
    /** Receives results and errors, on the inference thread. */
    interface Listener {
        void onResult(Decision decision, double latencyMs);

        void onError(String message);
    }

    static final long PERIOD_MS = 250;

    private final StagedModel model;
    private final int sampleRate;
    private final RollingAudioWindow window;
    private final Listener listener;
    private volatile double threshold;
    private volatile boolean recording;
    private Thread recorder;
    private ScheduledExecutorService inference;

    KeywordSpotter(StagedModel model, int sampleRate, int clipSamples, Listener listener) {
        this.model = model;
        this.sampleRate = sampleRate;
        this.window = new RollingAudioWindow(clipSamples);
        this.listener = listener;
    }

    /** Threshold on the normalized entropy; takes effect at the next inference. */
    void setThreshold(double threshold) {
        this.threshold = threshold;
    }

    /** Starts recording and inference; false (after reporting to the listener) if the mic failed. */
    @SuppressLint("MissingPermission") // the activity checks RECORD_AUDIO before calling start()
    boolean start() {
        if (recording) {
            return true;
        }
        int minBytes = AudioRecord.getMinBufferSize(
                sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT);
        if (minBytes <= 0) {
            listener.onError("this device cannot record " + sampleRate + " Hz mono 16-bit audio");
            return false;
        }
        final AudioRecord record = new AudioRecord(MediaRecorder.AudioSource.VOICE_RECOGNITION,
                sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT,
                Math.max(minBytes, sampleRate)); // bytes: at least 0.5 s of 16-bit samples
        if (record.getState() != AudioRecord.STATE_INITIALIZED) {
            record.release();
            listener.onError("could not open the microphone");
            return false;
        }
        window.clear();
        record.startRecording();
        recording = true;

        recorder = new Thread(new Runnable() {
            @Override
            public void run() {
                short[] chunk = new short[sampleRate / 10]; // 100 ms
                while (recording) {
                    int n = record.read(chunk, 0, chunk.length);
                    if (n > 0) {
                        window.push(chunk, n);
                    } else if (n < 0) {
                        listener.onError("AudioRecord.read failed: " + n);
                        break;
                    }
                }
                record.stop();
                record.release();
            }
        }, "audio-recorder");
        recorder.start();

        inference = Executors.newSingleThreadScheduledExecutor();
        inference.scheduleWithFixedDelay(new Runnable() {
            @Override
            public void run() {
                infer();
            }
        }, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
        return true;
    }

    /** Stops recording and waits for a running inference to finish. */
    void stop() {
        recording = false;
        if (inference != null) {
            inference.shutdown();
            try {
                inference.awaitTermination(2, TimeUnit.SECONDS);
                if (recorder != null) {
                    recorder.join(1000);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            inference = null;
            recorder = null;
        }
    }

    private void infer() {
        if (window.filled() == 0) {
            return;
        }
        try {
            float[] clip = window.snapshot();
            long start = System.nanoTime();
            Decision decision = model.run(clip, new EarlyExitPolicy(threshold));
            double latencyMs = (System.nanoTime() - start) / 1e6;
            listener.onResult(decision, latencyMs);
        } catch (RuntimeException e) {
            // An exception would silently cancel the schedule; report it instead.
            listener.onError("inference failed: " + e.getMessage());
        }
    }
}
