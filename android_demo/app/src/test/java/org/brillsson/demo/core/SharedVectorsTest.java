package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Checks that the Java early-exit logic makes exactly the decisions of the Python runtime, using
 * the shared vectors written by the Python side.
 *
 * <p>The file is the test resource {@code early_exit_vectors.json} (from
 * {@code app/src/test/resources/}, on the classpath under Gradle and in {@code run_jvm_tests.sh});
 * the system property {@code early_exit_vectors=/path/to/file.json} reads another file instead.
 */
public class SharedVectorsTest {
    private static final String RESOURCE = "/early_exit_vectors.json";
    private static final String PROPERTY = "early_exit_vectors";

    private static JsonObject vectors;
    private static double tolerance;

    @BeforeClass
    public static void load() throws IOException {
        String override = System.getProperty(PROPERTY);
        Reader reader;
        if (override != null && !override.isEmpty()) {
            reader = Files.newBufferedReader(new File(override).toPath(), StandardCharsets.UTF_8);
        } else {
            InputStream in = SharedVectorsTest.class.getResourceAsStream(RESOURCE);
            if (in == null) {
                throw new IOException(RESOURCE + " is not on the test classpath (expected in "
                        + "app/src/test/resources/); set -D" + PROPERTY + "=<file> to read another file");
            }
            reader = new InputStreamReader(in, StandardCharsets.UTF_8);
        }
        try {
            vectors = JsonParser.parseReader(reader).getAsJsonObject();
        } finally {
            reader.close();
        }
        assertEquals("vectors file version", 1, vectors.get("version").getAsInt());
        tolerance = vectors.get("tolerance").getAsDouble();
    }

    @Test
    public void entropyMatchesPython() {
        JsonArray cases = vectors.getAsJsonArray("entropy_cases");
        assertTrue("no entropy_cases", cases.size() > 0);
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonObject c = cases.get(i).getAsJsonObject();
            double expected = c.get("normalized_entropy").getAsDouble();
            double actual = Entropy.normalized(floats(c.getAsJsonArray("probs")));
            if (!(Math.abs(actual - expected) <= tolerance)) {
                errors.add("entropy_cases[" + i + "]: expected " + expected + ", got " + actual);
            }
        }
        report(errors, cases.size());
    }

    @Test
    public void decisionsMatchPython() {
        JsonArray cases = vectors.getAsJsonArray("decision_cases");
        assertTrue("no decision_cases", cases.size() > 0);
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonObject c = cases.get(i).getAsJsonObject();
            JsonArray exits = c.getAsJsonArray("probs");
            float[][] probs = new float[exits.size()][];
            for (int k = 0; k < probs.length; k++) {
                probs[k] = floats(exits.get(k).getAsJsonArray());
            }
            Decision d = new EarlyExitPolicy(c.get("threshold").getAsDouble()).decide(probs);
            String where = "decision_cases[" + i + "] (threshold " + c.get("threshold") + "): ";
            int exit = c.get("exit").getAsInt();
            int label = c.get("label").getAsInt();
            double probability = c.get("probability").getAsDouble();
            JsonArray entropies = c.getAsJsonArray("entropies");
            if (d.exit != exit) {
                errors.add(where + "exit " + d.exit + " != expected " + exit + " " + d);
                continue;
            }
            if (d.label != label) {
                errors.add(where + "label " + d.label + " != expected " + label);
            }
            if (!(Math.abs(d.probability - probability) <= tolerance)) {
                errors.add(where + "probability " + d.probability + " != expected " + probability);
            }
            if (d.entropies.length != entropies.size()) {
                errors.add(where + d.entropies.length + " entropies != expected " + entropies.size());
                continue;
            }
            for (int k = 0; k < entropies.size(); k++) {
                double e = entropies.get(k).getAsDouble();
                if (!(Math.abs(d.entropies[k] - e) <= tolerance)) {
                    errors.add(where + "entropy of exit " + (k + 1) + " " + d.entropies[k] + " != expected " + e);
                }
            }
        }
        report(errors, cases.size());
    }

    private static float[] floats(JsonArray a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement e = a.get(i);
            out[i] = (float) e.getAsDouble();
        }
        return out;
    }

    private static void report(List<String> errors, int total) {
        if (!errors.isEmpty()) {
            StringBuilder sb = new StringBuilder(errors.size() + " of " + total + " cases differ from Python:");
            for (String e : errors) {
                sb.append("\n  ").append(e);
            }
            fail(sb.toString());
        }
    }
}
