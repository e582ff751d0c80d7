// Runs many stdin/stdout test cases of one compiled Java program in one warm JVM (inside the
// sandbox, started by runner.py's host process): `java ... CaseRunner <MainClass> <classdir>`.
//
// Protocol on stdin/stdout, big-endian: request = int timeoutMillis, int cap, bytes input;
// reply = int status (exit status; 124 = timed out, 125 = output past the cap), bytes stdout,
// bytes stderr; where "bytes" is an int length then the bytes. Each case loads the program in a fresh class
// loader (static state starts over), on the runner's one case thread, with System.in/out/err
// set to the case's streams;
// System.exit is caught (the security manager) and becomes the case's status. After a
// timeout or an output flood the runner exits: a runaway thread would poison later cases.

import java.io.*;
import java.lang.reflect.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.security.Permission;
import java.util.concurrent.*;

public class CaseRunner {
    static final class ExitTrap extends SecurityException {
        final int status;
        ExitTrap(int status) { super("exit " + status); this.status = status; }
    }

    static final class CappedStream extends ByteArrayOutputStream {
        final int cap;
        CappedStream(int cap) { this.cap = cap; }
        @Override public synchronized void write(int b) { if (count <= cap) super.write(b); }
        @Override public synchronized void write(byte[] b, int off, int len) {
            if (count <= cap) super.write(b, off, Math.min(len, cap + 1 - count));
        }
    }

    @SuppressWarnings("removal")
    public static void main(String[] args) throws Exception {
        String mainClass = args[0];
        URL classes = new File(args[1]).toURI().toURL();
        final PrintStream realOut = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        final Thread runner = Thread.currentThread();
        System.setSecurityManager(new SecurityManager() {
            @Override public void checkPermission(Permission perm) { }
            @Override public void checkExit(int status) {
                // every exit but the runner's own (it never calls exit: it returns or halts)
                if (Thread.currentThread() != runner) throw new ExitTrap(status);
            }
        });
        DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(FileDescriptor.in)));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(realOut));
        // One case thread for the whole run, its 256 MB stack (deep recursion) reserved once:
        // a fresh thread per case had to reserve a new stack while the previous one could
        // still be unmapping, which now and then failed against the address-space limit.
        ExecutorService caseThread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(null, r, "case-runner", 256L << 20);
            t.setDaemon(true);
            return t;
        });
        int caseNumber = 0;
        while (true) {
            int timeout;
            try {
                timeout = in.readInt();
            } catch (EOFException e) {
                return;
            }
            int cap = in.readInt();
            byte[] input = new byte[in.readInt()];
            in.readFully(input);
            CappedStream caseOut = new CappedStream(cap);
            CappedStream caseErr = new CappedStream(1 << 16);
            System.setIn(new ByteArrayInputStream(input));
            System.setOut(new PrintStream(caseOut, false, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(caseErr, true, StandardCharsets.UTF_8));
            final int[] status = {0};
            final int number = caseNumber++;
            URLClassLoader loader = new URLClassLoader(new URL[] {classes}, CaseRunner.class.getClassLoader().getParent());
            Future<?> done = caseThread.submit(() -> {
                Thread self = Thread.currentThread();
                self.setName("case-" + number);
                self.setContextClassLoader(loader);
                Thread.interrupted();  // an interrupt a case left for itself is not the next one's
                try {
                    Method m = loader.loadClass(mainClass).getMethod("main", String[].class);
                    m.invoke(null, (Object) new String[0]);
                } catch (InvocationTargetException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof ExitTrap) {
                        status[0] = ((ExitTrap) cause).status;
                    } else {
                        cause.printStackTrace();
                        status[0] = 1;
                    }
                } catch (ExitTrap e) {
                    status[0] = e.status;
                } catch (Throwable e) {
                    e.printStackTrace();
                    status[0] = 1;
                }
            });
            long end = System.nanoTime() + timeout * 1_000_000L;
            boolean flooded = false, finished = false;
            while (!finished) {
                long left = (end - System.nanoTime()) / 1_000_000L;
                if (left <= 0) break;
                try {
                    done.get(Math.min(left, 10), TimeUnit.MILLISECONDS);
                    finished = true;
                } catch (TimeoutException e) {
                    if (caseOut.size() > cap) {  // past the output cap: stop now, not at the timeout
                        flooded = true;
                        break;
                    }
                } catch (ExecutionException e) {  // the task catches everything; kept for safety
                    finished = true;
                    status[0] = 1;
                }
            }
            boolean timedOut = !finished && !flooded;
            System.out.flush();
            System.err.flush();
            out.writeInt(timedOut ? 124 : flooded ? 125 : status[0]);
            byte[] o = caseOut.toByteArray(), e = caseErr.toByteArray();
            out.writeInt(o.length);
            out.write(o);
            out.writeInt(e.length);
            out.write(e);
            out.flush();
            loader.close();
            if (!finished) {
                Runtime.getRuntime().halt(timedOut ? 124 : 125);
            }
        }
    }
}
