package org.brillsson.demo.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Contents of {@code thresholds.json}, written by the Python pipeline:
 *
 * <pre>{@code
 * {"default": "within_1pct",
 *  "targets": {"within_1pct": {"threshold": 0.31, "accuracy": 0.9, "mean_latency_ms": 1.2}, ...},
 *  "num_exits": 3, "sample_rate": 16000, "clip_samples": 16000}
 * }</pre>
 *
 * Usage:
 *
 * <pre>{@code
 * Thresholds t = Thresholds.parse(jsonText);
 * double start = t.defaultThreshold();       // targets[default].threshold
 * int windowSamples = t.clipSamples();        // 16000 when absent
 * }</pre>
 *
 * <p>Only {@code default} and {@code targets[*].threshold} are required. {@code sample_rate} and
 * {@code clip_samples} default to 16000, {@code num_exits} to 0 (unknown). Malformed input throws
 * {@link IllegalArgumentException} with a message naming the offending field.
 */
public final class Thresholds {
    /** Default sample rate and clip length (one second at 16 kHz). */
    public static final int DEFAULT_SAMPLES = 16000;

    /** One named operating point. Optional metrics are {@code NaN} when absent. */
    public static final class Target {
        public final String name;
        public final double threshold;
        public final double accuracy;
        public final double meanLatencyMs;

        Target(String name, double threshold, double accuracy, double meanLatencyMs) {
            this.name = name;
            this.threshold = threshold;
            this.accuracy = accuracy;
            this.meanLatencyMs = meanLatencyMs;
        }
    }

    private final String defaultName;
    private final Map<String, Target> targets;
    private final int numExits;
    private final int sampleRate;
    private final int clipSamples;

    private Thresholds(String defaultName, Map<String, Target> targets, int numExits,
            int sampleRate, int clipSamples) {
        this.defaultName = defaultName;
        this.targets = Collections.unmodifiableMap(targets);
        this.numExits = numExits;
        this.sampleRate = sampleRate;
        this.clipSamples = clipSamples;
    }

    /** Parses the text of {@code thresholds.json}. */
    public static Thresholds parse(String json) {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("thresholds.json is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isJsonObject()) {
            throw new IllegalArgumentException("thresholds.json must hold a JSON object");
        }
        JsonObject obj = root.getAsJsonObject();

        String defaultName = string(obj, "default");
        JsonElement targetsEl = obj.get("targets");
        if (targetsEl == null || !targetsEl.isJsonObject()) {
            throw new IllegalArgumentException("thresholds.json: \"targets\" must be an object");
        }
        Map<String, Target> targets = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : targetsEl.getAsJsonObject().entrySet()) {
            String where = "targets." + e.getKey();
            if (!e.getValue().isJsonObject()) {
                throw new IllegalArgumentException("thresholds.json: \"" + where + "\" must be an object");
            }
            JsonObject t = e.getValue().getAsJsonObject();
            double threshold = number(t, "threshold", where, null);
            if (Double.isNaN(threshold) || Double.isInfinite(threshold)) {
                throw new IllegalArgumentException(
                        "thresholds.json: \"" + where + ".threshold\" must be a finite number");
            }
            targets.put(e.getKey(), new Target(e.getKey(), threshold,
                    number(t, "accuracy", where, Double.NaN),
                    number(t, "mean_latency_ms", where, Double.NaN)));
        }
        if (!targets.containsKey(defaultName)) {
            throw new IllegalArgumentException("thresholds.json: default target \"" + defaultName
                    + "\" is missing from \"targets\" (have " + targets.keySet() + ")");
        }
        int numExits = integer(obj, "num_exits", 0);
        int sampleRate = integer(obj, "sample_rate", DEFAULT_SAMPLES);
        int clipSamples = integer(obj, "clip_samples", DEFAULT_SAMPLES);
        if (numExits < 0 || sampleRate <= 0 || clipSamples <= 0) {
            throw new IllegalArgumentException("thresholds.json: num_exits must be >= 0 and "
                    + "sample_rate, clip_samples > 0");
        }
        return new Thresholds(defaultName, targets, numExits, sampleRate, clipSamples);
    }

    /** Name of the default target ({@code "default"}). */
    public String defaultName() {
        return defaultName;
    }

    public Target defaultTarget() {
        return targets.get(defaultName);
    }

    /** {@code targets[default].threshold}: the slider's start value. */
    public double defaultThreshold() {
        return defaultTarget().threshold;
    }

    /** All targets in file order (unmodifiable). */
    public Map<String, Target> targets() {
        return targets;
    }

    /** Number of exits the pipeline exported, or 0 when the file does not say. */
    public int numExits() {
        return numExits;
    }

    public int sampleRate() {
        return sampleRate;
    }

    /** Model input length in samples (the rolling window's size). */
    public int clipSamples() {
        return clipSamples;
    }

    private static String string(JsonObject obj, String key) {
        JsonElement el = obj.get(key);
        if (el == null || !el.isJsonPrimitive() || !el.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException("thresholds.json: \"" + key + "\" must be a string");
        }
        return el.getAsString();
    }

    /** Reads a number; {@code fallback == null} makes the field required. */
    private static double number(JsonObject obj, String key, String where, Double fallback) {
        JsonElement el = obj.get(key);
        if (el == null || el.isJsonNull()) {
            if (fallback == null) {
                throw new IllegalArgumentException("thresholds.json: \"" + where + "." + key + "\" is missing");
            }
            return fallback;
        }
        if (!el.isJsonPrimitive() || !el.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("thresholds.json: \"" + where + "." + key + "\" must be a number");
        }
        return el.getAsDouble();
    }

    private static int integer(JsonObject obj, String key, int fallback) {
        JsonElement el = obj.get(key);
        if (el == null || el.isJsonNull()) {
            return fallback;
        }
        if (!el.isJsonPrimitive() || !el.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("thresholds.json: \"" + key + "\" must be an integer");
        }
        double v = el.getAsDouble();
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("thresholds.json: \"" + key + "\" must be an integer, got " + v);
        }
        return (int) v;
    }
}
