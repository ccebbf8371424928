package org.brillsson.demo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Picks the staged model files {@code stage_1.tflite ... stage_K.tflite} out of a folder listing.
 *
 * <pre>{@code
 * List<String> files = StageFiles.ordered(assets.list("stages_portable"));
 * // ["stage_1.tflite", "stage_2.tflite", "stage_3.tflite"]
 * }</pre>
 *
 * <p>Other names are ignored; a missing stage (a gap such as 1, 3) or no stage at all is an error.
 */
public final class StageFiles {
    private static final Pattern STAGE = Pattern.compile("stage_(\\d+)\\.tflite");

    private StageFiles() {}

    /** Returns the stage file names sorted by stage number. */
    public static List<String> ordered(String[] names) {
        TreeMap<Integer, String> byIndex = new TreeMap<>();
        for (String name : names) {
            Matcher m = STAGE.matcher(name);
            if (m.matches()) {
                byIndex.put(Integer.parseInt(m.group(1)), name);
            }
        }
        if (byIndex.isEmpty()) {
            throw new IllegalArgumentException("no stage_K.tflite files found");
        }
        List<String> out = new ArrayList<>();
        int expected = 1;
        for (Map.Entry<Integer, String> e : byIndex.entrySet()) {
            if (e.getKey() != expected) {
                throw new IllegalArgumentException(
                        "stage files must be numbered 1..K without gaps; missing stage_" + expected + ".tflite");
            }
            out.add(e.getValue());
            expected++;
        }
        return out;
    }
}
