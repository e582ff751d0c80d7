// Long-lived Java compile worker (runs inside the sandbox): one JVM compiles many units.
//
// Started as `java ... CompileWorker <threads>`: a pool of that many compiler threads.
// Protocol on stdin/stdout, big-endian (DataInput/DataOutput):
//   request:  int n, int parallelism (at most that many units at once), then n times:
//             bytes fileName, bytes source, bytes outDir (relative to the working
//             directory; "" = discard)
//   replies:  n times, in completion order: int index, int ok (1/0), int count,
//             then count times: long line, long column, bytes kind, bytes message
// where "bytes" is an int length followed by UTF-8 bytes. Each unit is its own
// compilation task (own file manager per thread), so class names never collide; with an
// empty outDir the class files are discarded in memory.

import java.io.*;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import javax.tools.*;

public class CompileWorker {
    static final JavaCompiler COMPILER = ToolProvider.getSystemJavaCompiler();
    static final ThreadLocal<StandardJavaFileManager> MANAGERS =
        ThreadLocal.withInitial(() -> COMPILER.getStandardFileManager(null, null, StandardCharsets.UTF_8));

    static final class Source extends SimpleJavaFileObject {
        final String code;
        Source(String name, String code) {
            super(URI.create("string:///" + name), Kind.SOURCE);
            this.code = code;
        }
        @Override public CharSequence getCharContent(boolean ignore) { return code; }
    }

    static final class Discard extends SimpleJavaFileObject {
        Discard(String name, Kind kind) { super(URI.create("discard:///" + name + kind.extension), kind); }
        @Override public OutputStream openOutputStream() { return OutputStream.nullOutputStream(); }
    }

    static final class DiscardingManager extends ForwardingJavaFileManager<StandardJavaFileManager> {
        DiscardingManager(StandardJavaFileManager inner) { super(inner); }
        @Override public JavaFileObject getJavaFileForOutput(Location loc, String name,
                JavaFileObject.Kind kind, FileObject sibling) {
            return new Discard(name, kind);
        }
    }

    static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    static void writeBytes(DataOutputStream out, String s) throws IOException {
        byte[] b = (s == null ? "" : s).getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    static byte[] compile(int index, String fileName, String code, String outDir) throws IOException {
        DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
        List<String> options = new ArrayList<>(List.of("-proc:none", "-Xlint:none", "-implicit:none"));
        JavaFileManager manager = MANAGERS.get();
        if (outDir.isEmpty()) {
            manager = new DiscardingManager(MANAGERS.get());
        } else {
            options.add("-d");
            options.add(outDir);
        }
        boolean ok;
        try {
            ok = COMPILER.getTask(null, manager, diags, options, null,
                                  List.of(new Source(fileName, code))).call();
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            ok = false;
            diags = new DiagnosticCollector<>();
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(buf);
            out.writeInt(index);
            out.writeInt(0);
            out.writeInt(1);
            out.writeLong(-1);
            out.writeLong(-1);
            writeBytes(out, "error");
            writeBytes(out, "compiler crashed: " + e);
            return buf.toByteArray();
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(buf);
        List<Diagnostic<? extends JavaFileObject>> list = diags.getDiagnostics();
        int count = Math.min(list.size(), 50);
        out.writeInt(index);
        out.writeInt(ok ? 1 : 0);
        out.writeInt(count);
        for (int i = 0; i < count; i++) {
            Diagnostic<? extends JavaFileObject> d = list.get(i);
            out.writeLong(d.getLineNumber());
            out.writeLong(d.getColumnNumber());
            writeBytes(out, d.getKind() == Diagnostic.Kind.ERROR ? "error" : "warning");
            writeBytes(out, d.getMessage(Locale.ROOT));
        }
        return buf.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(System.out));
        while (true) {
            int n;
            try {
                n = in.readInt();
            } catch (EOFException e) {
                return;
            }
            final Semaphore gate = new Semaphore(Math.max(1, in.readInt()));
            CompletionService<byte[]> done = new ExecutorCompletionService<>(pool);
            for (int i = 0; i < n; i++) {
                final int index = i;
                final String fileName = new String(readBytes(in), StandardCharsets.UTF_8);
                final String code = new String(readBytes(in), StandardCharsets.UTF_8);
                final String outDir = new String(readBytes(in), StandardCharsets.UTF_8);
                done.submit(() -> {
                    gate.acquire();
                    try {
                        return compile(index, fileName, code, outDir);
                    } finally {
                        gate.release();
                    }
                });
            }
            for (int i = 0; i < n; i++) {
                out.write(done.take().get());
                out.flush();
            }
        }
    }
}
