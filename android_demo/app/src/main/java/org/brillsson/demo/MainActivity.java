package org.brillsson.demo;

import android.Manifest;
import android.app.Activity;
import android.content.pm.PackageManager;
import android.os.Bundle;
import android.widget.SeekBar;
import android.widget.TextView;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.brillsson.demo.core.Decision;
import org.brillsson.demo.core.LabelMap;
import org.brillsson.demo.core.Thresholds;

/**
 * Live keyword spotting with early exit. Loads {@code labels.txt}, {@code thresholds.json} and
 * the stage models from the assets, asks for the microphone, and shows the answer of every
 * inference: label, probability, exit used and latency. The slider sets the entropy threshold
 * (0..1), starting at {@code targets[default].threshold}.
 *
 * <p>{@link BuildConfig#USE_LCE} (gradle property {@code useLce}) picks the runtime: stock TFLite
 * with {@code stages_portable/}, or the LCE AAR with {@code stages/} and XNNPACK off.
 */
public class MainActivity extends Activity implements KeywordSpotter.Listener {
    private static final int REQUEST_RECORD_AUDIO = 1;
    private static final int SLIDER_STEPS = 100;

    private TextView status;
    private TextView label;
    private TextView probability;
    private TextView exit;
    private TextView latency;
    private TextView thresholdLabel;
    private SeekBar slider;

    private LabelMap labels;
    private StagedModel model;
    private KeywordSpotter spotter;
    private String modelDescription;
    private int numStages;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        status = findViewById(R.id.status);
        label = findViewById(R.id.label);
        probability = findViewById(R.id.probability);
        exit = findViewById(R.id.exit);
        latency = findViewById(R.id.latency);
        thresholdLabel = findViewById(R.id.threshold_label);
        slider = findViewById(R.id.threshold);

        Thresholds thresholds;
        String dir = BuildConfig.USE_LCE ? StagedModel.LCE_DIR : StagedModel.PORTABLE_DIR;
        try {
            labels = LabelMap.parse(readAsset("labels.txt"));
            thresholds = Thresholds.parse(readAsset("thresholds.json"));
            model = StagedModel.load(getAssets(), dir, labels.size(), thresholds.clipSamples(),
                    !BuildConfig.USE_LCE);
            if (thresholds.numExits() > 0 && thresholds.numExits() != model.numStages()) {
                throw new IllegalStateException("thresholds.json says " + thresholds.numExits()
                        + " exits but " + dir + "/ holds " + model.numStages() + " stages");
            }
        } catch (IOException | RuntimeException e) {
            if (model != null) {
                model.close();
                model = null;
            }
            status.setText(getString(R.string.status_no_model, e.getMessage()));
            slider.setEnabled(false);
            return;
        }
        numStages = model.numStages();
        modelDescription = getString(R.string.status_ready,
                getString(BuildConfig.USE_LCE ? R.string.runtime_lce : R.string.runtime_stock),
                dir, numStages, labels.size());
        status.setText(modelDescription);

        spotter = new KeywordSpotter(model, thresholds.sampleRate(), thresholds.clipSamples(), this);
        setUpSlider(thresholds.defaultThreshold());

        if (checkSelfPermission(Manifest.permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.RECORD_AUDIO}, REQUEST_RECORD_AUDIO);
        }
    }

    private void setUpSlider(double initial) {
        spotter.setThreshold(initial);
        thresholdLabel.setText(getString(R.string.threshold, initial));
        slider.setMax(SLIDER_STEPS);
        slider.setProgress((int) Math.round(Math.max(0, Math.min(1, initial)) * SLIDER_STEPS));
        slider.setOnSeekBarChangeListener(new SeekBar.OnSeekBarChangeListener() {
            @Override
            public void onProgressChanged(SeekBar bar, int progress, boolean fromUser) {
                if (fromUser) {
                    double t = progress / (double) SLIDER_STEPS;
                    spotter.setThreshold(t);
                    thresholdLabel.setText(getString(R.string.threshold, t));
                }
            }

            @Override
            public void onStartTrackingTouch(SeekBar bar) {}

            @Override
            public void onStopTrackingTouch(SeekBar bar) {}
        });
    }

    @Override
    protected void onResume() {
        super.onResume();
        // Runs again right after the permission dialog closes.
        if (spotter != null
                && checkSelfPermission(Manifest.permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED) {
            if (spotter.start()) {
                status.setText(getString(R.string.status_listening, modelDescription));
            }
        }
    }

    @Override
    protected void onPause() {
        if (spotter != null) {
            spotter.stop();
        }
        super.onPause();
    }

    @Override
    protected void onDestroy() {
        if (model != null) {
            model.close();
        }
        super.onDestroy();
    }

    @Override
    public void onRequestPermissionsResult(int requestCode, String[] permissions, int[] results) {
        super.onRequestPermissionsResult(requestCode, permissions, results);
        if (requestCode == REQUEST_RECORD_AUDIO
                && (results.length == 0 || results[0] != PackageManager.PERMISSION_GRANTED)) {
            status.setText(R.string.status_no_permission);
        }
    }

    @Override
    public void onResult(final Decision d, final double latencyMs) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                label.setText(labels.name(d.label));
                probability.setText(getString(R.string.probability, d.probability));
                exit.setText(getString(R.string.exit_used, d.exit, numStages, d.entropies[d.exit - 1]));
                latency.setText(getString(R.string.latency, latencyMs));
            }
        });
    }

    @Override
    public void onError(final String message) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                status.setText(getString(R.string.status_error, message));
            }
        });
    }

    private String readAsset(String path) throws IOException {
        try (InputStream in = getAssets().open(path)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) != -1; ) {
                out.write(buf, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }
}
