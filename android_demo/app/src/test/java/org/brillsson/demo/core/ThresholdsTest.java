package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.ArrayList;
import org.junit.Test;

public class ThresholdsTest {
    private static final String EXAMPLE = "{\"default\": \"within_1pct\", \"targets\": {"
            + "\"within_1pct\": {\"threshold\": 0.31, \"accuracy\": 0.9, \"mean_latency_ms\": 1.2},"
            + "\"fastest_95pct\": {\"threshold\": 0.5, \"accuracy\": 0.88, \"mean_latency_ms\": 0.7}},"
            + "\"num_exits\": 3, \"sample_rate\": 16000, \"clip_samples\": 16000}";

    @Test
    public void parsesExample() {
        Thresholds t = Thresholds.parse(EXAMPLE);
        assertEquals("within_1pct", t.defaultName());
        assertEquals(0.31, t.defaultThreshold(), 0.0);
        assertEquals(0.9, t.defaultTarget().accuracy, 0.0);
        assertEquals(1.2, t.defaultTarget().meanLatencyMs, 0.0);
        assertEquals(0.5, t.targets().get("fastest_95pct").threshold, 0.0);
        assertEquals(Arrays.asList("within_1pct", "fastest_95pct"), new ArrayList<>(t.targets().keySet()));
        assertEquals(3, t.numExits());
        assertEquals(16000, t.sampleRate());
        assertEquals(16000, t.clipSamples());
    }

    @Test
    public void optionalFieldsHaveDefaults() {
        Thresholds t = Thresholds.parse("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": 0}}}");
        assertEquals(0.0, t.defaultThreshold(), 0.0);
        assertTrue(Double.isNaN(t.defaultTarget().accuracy));
        assertEquals(0, t.numExits());
        assertEquals(16000, t.sampleRate());
        assertEquals(16000, t.clipSamples());
    }

    @Test
    public void readsClipSamples() {
        Thresholds t = Thresholds.parse(
                "{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": 1}}, \"clip_samples\": 8000.0}");
        assertEquals(8000, t.clipSamples());
    }

    @Test
    public void missingDefaultTargetIsExplained() {
        expectMessage("{\"default\": \"b\", \"targets\": {\"a\": {\"threshold\": 0.2}}}", "default target \"b\"");
    }

    @Test
    public void malformedFilesAreExplained() {
        expectMessage("{\"default\": \"a\", \"targets\": ", "not valid JSON");
        expectMessage("[1, 2]", "JSON object");
        expectMessage("", "JSON object");
        expectMessage("{\"targets\": {}}", "\"default\" must be a string");
        expectMessage("{\"default\": \"a\"}", "\"targets\" must be an object");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {}}}", "targets.a.threshold\" is missing");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": \"x\"}}}", "must be a number");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": 0.3}}", "\"targets.a\" must be an object");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": NaN}}}", "must be a number");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": 1e400}}}", "finite");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": 0.1}}, \"clip_samples\": 1.5}",
                "clip_samples");
        expectMessage("{\"default\": \"a\", \"targets\": {\"a\": {\"threshold\": 0.1}}, \"clip_samples\": 0}",
                "clip_samples");
    }

    private static void expectMessage(String json, String fragment) {
        try {
            Thresholds.parse(json);
            fail("expected an error for " + json);
        } catch (IllegalArgumentException e) {
            assertTrue("message '" + e.getMessage() + "' lacks '" + fragment + "'",
                    e.getMessage().contains(fragment));
        }
    }
}
