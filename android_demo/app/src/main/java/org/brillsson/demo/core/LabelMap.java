package org.brillsson.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Class names from {@code labels.txt}: one label per line, line index = class id.
 *
 * <pre>{@code
 * LabelMap labels = LabelMap.parse(textOfLabelsTxt);
 * String word = labels.name(decision.label);
 * }</pre>
 *
 * <p>Lines are trimmed (a UTF-8 byte-order mark is dropped) and trailing empty lines are
 * ignored; every other line, even an empty one, keeps its position so ids stay aligned.
 */
public final class LabelMap {
    private final List<String> names;

    private LabelMap(List<String> names) {
        this.names = Collections.unmodifiableList(names);
    }

    /** Parses the contents of {@code labels.txt}; throws if it holds no label. */
    public static LabelMap parse(String text) {
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        List<String> names = new ArrayList<>();
        for (String line : text.split("\r\n|\n|\r", -1)) {
            names.add(line.trim());
        }
        while (!names.isEmpty() && names.get(names.size() - 1).isEmpty()) {
            names.remove(names.size() - 1);
        }
        if (names.isEmpty()) {
            throw new IllegalArgumentException("labels.txt holds no labels");
        }
        return new LabelMap(names);
    }

    /** Name of class {@code id}. */
    public String name(int id) {
        if (id < 0 || id >= names.size()) {
            throw new IndexOutOfBoundsException(
                    "class id " + id + " out of range for " + names.size() + " labels");
        }
        return names.get(id);
    }

    public int size() {
        return names.size();
    }

    /** All names in class-id order (unmodifiable). */
    public List<String> names() {
        return names;
    }
}
