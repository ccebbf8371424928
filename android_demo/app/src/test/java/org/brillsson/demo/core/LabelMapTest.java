package org.brillsson.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;

public class LabelMapTest {

    @Test
    public void parsesOneLabelPerLine() {
        LabelMap m = LabelMap.parse("yes\nno\nup\n");
        assertEquals(3, m.size());
        assertEquals("yes", m.name(0));
        assertEquals("up", m.name(2));
        assertEquals(Arrays.asList("yes", "no", "up"), m.names());
    }

    @Test
    public void trimsAndHandlesCrlfAndBom() {
        LabelMap m = LabelMap.parse("\uFEFF _silence_ \r\n\tunknown\r\nleft\r\n");
        assertEquals(Arrays.asList("_silence_", "unknown", "left"), m.names());
    }

    @Test
    public void noTrailingNewlineAndSeveralTrailingBlankLines() {
        assertEquals(2, LabelMap.parse("a\nb").size());
        assertEquals(2, LabelMap.parse("a\nb\n\n  \n").size());
    }

    @Test
    public void innerBlankLineKeepsIdsAligned() {
        LabelMap m = LabelMap.parse("a\n\nc\n");
        assertEquals(3, m.size());
        assertEquals("", m.name(1));
        assertEquals("c", m.name(2));
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsEmptyFile() {
        LabelMap.parse("\n \n");
    }

    @Test(expected = IndexOutOfBoundsException.class)
    public void rejectsUnknownId() {
        LabelMap.parse("a\nb\n").name(2);
    }
}
