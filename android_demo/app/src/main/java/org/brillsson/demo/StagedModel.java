package org.brillsson.demo;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;
import java.io.Closeable;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.brillsson.demo.core.Decision;
import org.brillsson.demo.core.EarlyExitPolicy;
import org.brillsson.demo.core.ExitOutputs;
import org.brillsson.demo.core.StageFiles;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * The exported early-exit model: one TFLite interpreter per {@code stage_K.tflite}, chained
 * through their activation tensors. Stage 1 takes float32 audio {@code [1, N]}; every stage
 * outputs its exit's probabilities {@code [1, C]} and, except the last, the next stage's input.
 *
 * <pre>{@code
 * StagedModel model = StagedModel.load(getAssets(), StagedModel.PORTABLE_DIR, labels.size(), 16000, true);
 * Decision d = model.run(clip, new EarlyExitPolicy(0.31));  // stages after the answering exit never run
 * model.close();
 * }</pre>
 *
 * Not thread-safe: create, run and close it from one thread at a time.
 */
final class StagedModel implements Closeable {
    /** Stock-TFLite (portable) stage files, used with org.tensorflow:tensorflow-lite. */
    static final String PORTABLE_DIR = "stages_portable";
    /** Stage files with LCE binary ops, used with the LCE AAR. */
    static final String LCE_DIR = "stages";

    private static final class Stage {
        final Interpreter interpreter;
        final ByteBuffer input;
        final int probsIndex;
        final ByteBuffer probs;
        final int activationIndex;   // -1 for the last stage
        final ByteBuffer activation; // also the next stage's input

        Stage(Interpreter interpreter, ByteBuffer input, int probsIndex, int activationIndex,
                ByteBuffer activation, int numClasses) {
            this.interpreter = interpreter;
            this.input = input;
            this.probsIndex = probsIndex;
            this.probs = direct(4 * numClasses);
            this.activationIndex = activationIndex;
            this.activation = activation;
        }
    }

    private final List<Stage> stages;
    private final int numClasses;
    private final int inputSamples;

    private StagedModel(List<Stage> stages, int numClasses, int inputSamples) {
        this.stages = stages;
        this.numClasses = numClasses;
        this.inputSamples = inputSamples;
    }

    /**
     * Loads {@code dir/stage_1.tflite ... dir/stage_K.tflite} from the assets.
     *
     * @param numClasses number of labels C; the probabilities output must have shape [1, C]
     * @param clipSamples samples N that stage 1 must take as input
     * @param useXnnpack false for the LCE runtime
     */
    static StagedModel load(AssetManager assets, String dir, int numClasses, int clipSamples,
            boolean useXnnpack) throws IOException {
        String[] listing = assets.list(dir);
        List<String> files;
        try {
            files = StageFiles.ordered(listing == null ? new String[0] : listing);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("assets/" + dir + "/: " + e.getMessage(), e);
        }
        List<Stage> stages = new ArrayList<>();
        try {
            ByteBuffer input = null;
            for (int k = 0; k < files.size(); k++) {
                String file = dir + "/" + files.get(k);
                Interpreter.Options options = new Interpreter.Options();
                options.setNumThreads(2);
                options.setUseXNNPACK(useXnnpack);
                Interpreter it = new Interpreter(map(assets, file), options);
                boolean last = k == files.size() - 1;
                try {
                    Tensor in = it.getInputTensor(0);
                    if (k == 0) {
                        require(in.dataType() == DataType.FLOAT32 && in.numElements() == clipSamples,
                                file + ": input must be float32 [1, " + clipSamples + "], is "
                                        + describe(in));
                        input = direct(in.numBytes());
                    } else {
                        require(in.numBytes() == input.capacity(), file + ": input " + describe(in)
                                + " does not match the previous stage's activation ("
                                + input.capacity() + " bytes)");
                    }
                    int n = it.getOutputTensorCount();
                    String[] names = new String[n];
                    int[][] shapes = new int[n][];
                    for (int i = 0; i < n; i++) {
                        names[i] = it.getOutputTensor(i).name();
                        shapes[i] = it.getOutputTensor(i).shape();
                    }
                    int probsIndex = ExitOutputs.probsIndex(names, shapes, numClasses);
                    require(it.getOutputTensor(probsIndex).dataType() == DataType.FLOAT32,
                            file + ": probabilities must be float32");
                    int activationIndex = -1;
                    ByteBuffer activation = null;
                    if (!last) {
                        require(n == 2, file + ": expected 2 outputs (activation, probabilities), found " + n);
                        activationIndex = 1 - probsIndex;
                        activation = direct(it.getOutputTensor(activationIndex).numBytes());
                    }
                    stages.add(new Stage(it, input, probsIndex, activationIndex, activation, numClasses));
                    input = activation;
                } catch (RuntimeException e) {
                    it.close();
                    throw e;
                }
            }
        } catch (RuntimeException e) {
            for (Stage s : stages) {
                s.interpreter.close();
            }
            throw e;
        }
        return new StagedModel(stages, numClasses, clipSamples);
    }

    int numStages() {
        return stages.size();
    }

    /** Runs stage after stage on {@code audio} until {@code policy} stops at an exit. */
    Decision run(float[] audio, EarlyExitPolicy policy) {
        if (audio.length != inputSamples) {
            throw new IllegalArgumentException("expected " + inputSamples + " samples, got " + audio.length);
        }
        ByteBuffer in = stages.get(0).input;
        in.rewind();
        in.asFloatBuffer().put(audio);
        return policy.run(stages.size(), new EarlyExitPolicy.ExitSource() {
            @Override
            public float[] probs(int exitIndex0) {
                return runStage(stages.get(exitIndex0));
            }
        });
    }

    private float[] runStage(Stage s) {
        Map<Integer, Object> outputs = new HashMap<>();
        s.probs.rewind();
        outputs.put(s.probsIndex, s.probs);
        if (s.activation != null) {
            s.activation.rewind();
            outputs.put(s.activationIndex, s.activation);
        }
        s.input.rewind();
        s.interpreter.runForMultipleInputsOutputs(new Object[] {s.input}, outputs);
        float[] p = new float[numClasses];
        s.probs.rewind();
        s.probs.asFloatBuffer().get(p);
        return p;
    }

    @Override
    public void close() {
        for (Stage s : stages) {
            s.interpreter.close();
        }
        stages.clear();
    }

    private static MappedByteBuffer map(AssetManager assets, String path) throws IOException {
        // Needs the file stored uncompressed in the APK (noCompress 'tflite' in app/build.gradle).
        try (AssetFileDescriptor fd = assets.openFd(path);
                FileInputStream stream = new FileInputStream(fd.getFileDescriptor())) {
            return stream.getChannel().map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        }
    }

    private static ByteBuffer direct(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    private static String describe(Tensor t) {
        return t.dataType() + java.util.Arrays.toString(t.shape());
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalStateException(message);
        }
    }
}
