package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

public class StageFilesTest {

    @Test
    public void sortsNumericallyAndIgnoresOtherFiles() {
        String[] names = new String[12];
        for (int i = 0; i < 11; i++) {
            names[i] = "stage_" + (11 - i) + ".tflite";
        }
        names[11] = "README.md";
        assertEquals(11, StageFiles.ordered(names).size());
        assertEquals("stage_1.tflite", StageFiles.ordered(names).get(0));
        assertEquals("stage_2.tflite", StageFiles.ordered(names).get(1));
        assertEquals("stage_10.tflite", StageFiles.ordered(names).get(9));
    }

    @Test
    public void threeStages() {
        assertEquals(Arrays.asList("stage_1.tflite", "stage_2.tflite", "stage_3.tflite"),
                StageFiles.ordered(new String[] {"stage_3.tflite", "stage_1.tflite", "stage_2.tflite", "x.tflite"}));
    }

    @Test
    public void gapIsAnError() {
        try {
            StageFiles.ordered(new String[] {"stage_1.tflite", "stage_3.tflite"});
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("stage_2.tflite"));
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void noStagesIsAnError() {
        StageFiles.ordered(new String[] {"labels.txt"});
    }
}
