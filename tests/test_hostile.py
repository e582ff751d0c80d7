"""Hostile programs really run in the sandbox and stay contained, in every language.

Each program gets the right outcome class and no pass: fork bomb, memory bomb (stopped
within 1.5x of the run's memory), infinite loop, output flood, writes outside, reads of
a root-only file, network, a setsid daemon (and more in Python and C). Afterwards no
process of it is alive, nothing was written outside its run directory, no run directory
is left behind, the secret appears in no message, no byte reached a loopback listener,
and the scorer still works.
"""

import glob
import os
import socket
import tempfile
import threading
import time
import uuid

import pytest

from rewards import TestSpec, compile_feedback, run_tests
from rewards.execution.sandbox import isolation_level, own_uids

MARK = f"ppohostile{uuid.uuid4().hex[:10]}"
OUTSIDE = [f"/tmp/{MARK}-escape", f"/var/tmp/{MARK}-escape", f"/dev/shm/{MARK}-escape",
           os.path.join(os.path.dirname(__file__), f"{MARK}-escape"), f"/{MARK}-escape"]
SECRET_PATH = f"/var/tmp/{MARK}-secret"
SECRET = f"secret-{MARK}"


class Listener:
    """A loopback TCP server that records whether anything connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def py_programs(port):
    sleeper = f"['/bin/sh', '-c', 'sleep 1000; : {MARK}']"
    return {
        "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                      {"timeout", "runtime_error"}),
        "memory_bomb": ("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", {"runtime_error"}),
        "infinite_loop": ("while True:\n    pass\n", {"timeout"}),
        "busy_threads": ("import threading, time\n"
                         "def spin():\n    while True:\n        pass\n"
                         "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\n"
                         "time.sleep(1000)\n", {"timeout"}),
        "disk_fill_one_file": ("with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * (1 << 20))\n",
                               {"runtime_error"}),
        "disk_fill_many_files": ("k = 0\nwhile True:\n    with open(f'f{k}', 'wb') as f:\n"
                                 "        f.write(b'0' * (8 << 20))\n    k += 1\n", {"runtime_error"}),
        "output_flood": ("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 10**6)\n",
                        {"runtime_error"}),
        "network": ("import socket\ntry:\n"
                    f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'x')\n"
                    "    print('connected')\nexcept OSError:\n    print('blocked')\n", {"failed"}),
        # /tmp and /dev/shm are the run's own tmpfs (writable, gone afterwards); the host
        # paths must refuse the write
        "write_outside": ("wrote = 0\n"
                          f"for path in {OUTSIDE!r} + ['../{MARK}-up', '/etc/{MARK}']:\n"
                          "    try:\n        open(path, 'w').write('x')\n"
                          "        wrote += not path.startswith(('/tmp/', '/dev/shm/', '../'))\n"
                          "    except OSError:\n        pass\nprint('connected' if wrote else 'none')\n",
                          {"failed"}),
        "read_host_files": ("out = []\n"
                            f"for path in [{SECRET_PATH!r}, '/etc/shadow', '/root/.bashrc']:\n"
                            "    try:\n        out.append(open(path).read())\n    except OSError:\n        pass\n"
                            "print('connected' if out else 'none')\n", {"failed"}),
        "setsid_daemon": ("import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                          f"        os.execv('/bin/sh', {sleeper})\n    os._exit(0)\nprint('connected')\n",
                          {"passed"}),
        "sleep_forever_child": (f"import subprocess\nsubprocess.Popen({sleeper})\nprint('connected')\n",
                                {"passed"}),
        "kill_the_parent": ("import os\nos.kill(os.getppid(), 9)\nprint('connected')\n",
                            {"runtime_error"}),
        "kill_everything": ("import os\nos.kill(-1, 9)\nprint('connected')\n", {"runtime_error"}),
        "deep_recursion": ("import sys\nsys.setrecursionlimit(10**8)\n"
                           "def f(n):\n    return f(n + 1) + 1\nf(0)\n", {"runtime_error", "timeout"}),
    }


def c_programs(port):
    return {**C_PROGRAMS, **{
        "network": ("#include <stdio.h>\n#include <string.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n"
                    "int main(void) { struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET;\n"
                    f"  a.sin_port = htons({port}); a.sin_addr.s_addr = htonl(0x7f000001);\n"
                    "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
                    "  puts(connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? \"connected\" : \"blocked\"); }\n",
                    {"failed"}),
        "read_host_files": ("#include <stdio.h>\nint main(void) {\n"
                            f"  FILE *f = fopen(\"{SECRET_PATH}\", \"r\"); FILE *g = fopen(\"/etc/shadow\", \"r\");\n"
                            "  puts(f || g ? \"connected\" : \"none\"); }\n", {"failed"}),
        "sleep_forever_child": ("#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n"
                                f"  if (fork() == 0) {{ execl(\"/bin/sh\", \"sh\", \"-c\", \"sleep 1000; : {MARK}\", (char *)0); }}\n"
                                "  puts(\"connected\"); return 0; }\n", {"passed"}),
    }}


C_PROGRAMS = {
    "fork_bomb": ("#include <unistd.h>\nint main(void) { for (;;) fork(); }\n", {"timeout", "runtime_error"}),
    "memory_bomb": ("#include <stdlib.h>\n#include <string.h>\nint main(void) {\n"
                    "  for (;;) { char *p = malloc(1 << 24); if (!p) return 1; memset(p, 1, 1 << 24); }\n}\n",
                    {"runtime_error"}),
    "infinite_loop": ("int main(void) { volatile int x = 0; for (;;) x++; }\n", {"timeout"}),
    "busy_threads": ("#include <pthread.h>\n#include <unistd.h>\n"
                     "static void *spin(void *a) { volatile long x = 0; for (;;) x++; return a; }\n"
                     "int main(void) { pthread_t t; for (int i = 0; i < 8; i++) pthread_create(&t, 0, spin, 0);\n"
                     "  sleep(1000); }\n", {"timeout"}),
    "disk_fill": ("#include <stdio.h>\nint main(void) { FILE *f = fopen(\"big\", \"wb\"); static char b[1 << 20];\n"
                  "  for (;;) if (fwrite(b, 1, sizeof b, f) != sizeof b) return 1; }\n", {"runtime_error"}),
    "output_flood": ("#include <stdio.h>\nint main(void) { for (long i = 0; i < 100000000; i++) putchar('x'); }\n",
                    {"runtime_error"}),
    "setsid_daemon": ("#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n"
                      "  if (fork() == 0) { setsid(); if (fork() == 0) {\n"
                      f"    execl(\"/bin/sh\", \"sh\", \"-c\", \"sleep 1000; : {MARK}\", (char *)0); }}\n    _exit(0); }}\n"
                      "  puts(\"connected\"); return 0; }\n", {"passed"}),
    "kill_the_parent": ("#include <signal.h>\n#include <unistd.h>\n#include <stdio.h>\n"
                        "int main(void) { kill(getppid(), 9); kill(-1, 9); puts(\"connected\"); }\n",
                        {"runtime_error"}),
    "deep_recursion": ("int f(int n) { volatile char pad[256]; pad[0] = n; return f(n + 1) + pad[0]; }\n"
                       "int main(void) { return f(0); }\n", {"runtime_error"}),
    "write_outside": ("#include <stdio.h>\nint main(void) { int n = 0;\n"
                      + "".join(f"  if (fopen(\"{p}\", \"w\")) n++;\n" for p in OUTSIDE
                                if not p.startswith(("/tmp/", "/dev/shm/")))
                      + "  puts(n ? \"connected\" : \"none\"); }\n", {"failed"}),
}

WRITE_TARGETS = [p for p in OUTSIDE if not p.startswith(("/tmp/", "/dev/shm/"))]
"""Host paths a program must not be able to write (its own /tmp and /dev/shm are private)."""
SLEEPER = f"sleep 1000; : {MARK}"


def java_programs(port):
    def main(body, imports="import java.util.*; import java.io.*; import java.net.*; import java.nio.file.*;"):
        return f"{imports}\npublic class Main {{ public static void main(String[] a) throws Exception {{\n{body}\n}} }}\n"

    writes = "".join(f'    try {{ Files.writeString(Path.of("{p}"), "x"); n++; }} catch (Exception e) {{ }}\n'
                     for p in WRITE_TARGETS)
    return {
        "fork_bomb": (main(f'while (true) {{ try {{ new ProcessBuilder("/bin/sh", "-c", "{SLEEPER}").start(); }}'
                           ' catch (Exception e) { } }'), {"timeout", "runtime_error"}),
        "memory_bomb": (main("List<long[]> l = new ArrayList<>();\n"
                             "while (true) { long[] x = new long[1 << 20]; Arrays.fill(x, 1); l.add(x); }"),
                        {"runtime_error"}),
        "native_memory_bomb": (main('java.lang.reflect.Field f = Class.forName("sun.misc.Unsafe").getDeclaredField("theUnsafe");\n'
                                    "f.setAccessible(true); sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);\n"
                                    "while (true) { long p = u.allocateMemory(1 << 24);"
                                    " for (long i = 0; i < (1 << 24); i += 4096) u.putByte(p + i, (byte) 1); }"),
                               {"runtime_error"}),
        "infinite_loop": (main("long x = 0; while (true) x++;"), {"timeout"}),
        "output_flood": (main('String s = "x".repeat(1000); while (true) System.out.print(s);'), {"runtime_error"}),
        "write_outside": (main(f"int n = 0;\n{writes}System.out.println(n > 0 ? \"connected\" : \"none\");"),
                          {"failed"}),
        "read_host_files": (main(f'String got = "none";\ntry {{ got = Files.readString(Path.of("{SECRET_PATH}")); }}'
                                 ' catch (Exception e) { }\n'
                                 'try { got = Files.readString(Path.of("/etc/shadow")); } catch (Exception e) { }\n'
                                 'System.out.println(got);'), {"failed"}),
        "network": (main(f'try (Socket s = new Socket("127.0.0.1", {port})) {{ s.getOutputStream().write(1);'
                         ' System.out.println("connected"); } catch (Exception e) { System.out.println("blocked"); }'),
                    {"failed"}),
        "setsid_daemon": (main(f'new ProcessBuilder("setsid", "/bin/sh", "-c", "{SLEEPER}").start();'
                               ' System.out.println("connected");'), {"passed"}),
    }


def cpp_programs(port):
    head = "#include <bits/stdc++.h>\n#include <unistd.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n" \
           "using namespace std;\n"
    writes = "".join(f'  if (ofstream("{p}") << "x") n++;\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": (head + "int main() { for (;;) fork(); }\n", {"timeout", "runtime_error"}),
        "memory_bomb": (head + "int main() { vector<vector<char>> v; for (;;) v.emplace_back(1 << 24, 'x'); }\n",
                        {"runtime_error"}),
        "infinite_loop": (head + "int main() { volatile long x = 0; for (;;) x++; }\n", {"timeout"}),
        "output_flood": (head + "int main() { string s(1000, 'x'); for (;;) cout << s; }\n", {"runtime_error"}),
        "write_outside": (head + f"int main() {{ int n = 0;\n{writes}  cout << (n ? \"connected\" : \"none\") << endl; }}\n",
                          {"failed"}),
        "read_host_files": (head + f'int main() {{ string s; ifstream f("{SECRET_PATH}"); ifstream g("/etc/shadow");\n'
                            '  if ((f >> s) || (g >> s)) cout << s << endl; else cout << "none" << endl; }\n',
                            {"failed"}),
        "network": (head + "int main() { sockaddr_in a{}; a.sin_family = AF_INET;\n"
                    f"  a.sin_port = htons({port}); a.sin_addr.s_addr = htonl(0x7f000001);\n"
                    "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
                    "  cout << (connect(s, (sockaddr *)&a, sizeof a) == 0 ? \"connected\" : \"blocked\") << endl; }\n",
                    {"failed"}),
        "setsid_daemon": (head + "int main() { if (fork() == 0) { setsid(); if (fork() == 0)"
                          f' execl("/bin/sh", "sh", "-c", "{SLEEPER}", (char *)0); _exit(0); }}\n'
                          '  cout << "connected" << endl; }\n', {"passed"}),
    }


def c_sharp_programs(port):
    def main(body):
        return ("using System; using System.IO; using System.Collections.Generic; using System.Diagnostics;\n"
                "using System.Net.Sockets; using System.Runtime.InteropServices;\n"
                f"class P {{\n  static void Main() {{\n{body}\n  }}\n}}\n")

    writes = "".join(f'    try {{ File.WriteAllText("{p}", "x"); n++; }} catch (Exception) {{ }}\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": (main(f'while (true) {{ try {{ Process.Start("/bin/sh", "-c \\"{SLEEPER}\\""); }}'
                           ' catch (Exception) { } }'), {"timeout", "runtime_error"}),
        "memory_bomb": (main("var l = new List<double[]>();\n"
                             "while (true) { var a = new double[1 << 20]; for (int i = 0; i < a.Length; i += 512) a[i] = 1; l.Add(a); }"),
                        {"runtime_error"}),
        "native_memory_bomb": (main("while (true) { IntPtr p = Marshal.AllocHGlobal(1 << 24);"
                                    " for (int i = 0; i < (1 << 24); i += 4096) Marshal.WriteByte(p, i, 1); }"),
                               {"runtime_error"}),
        "infinite_loop": (main("long x = 0; while (true) x++;"), {"timeout"}),
        "output_flood": (main('var s = new string(\'x\', 1000); while (true) Console.Write(s);'), {"runtime_error"}),
        "write_outside": (main(f"int n = 0;\n{writes}Console.WriteLine(n > 0 ? \"connected\" : \"none\");"),
                          {"failed"}),
        "read_host_files": (main(f'string got = "none";\ntry {{ got = File.ReadAllText("{SECRET_PATH}"); }} catch (Exception) {{ }}\n'
                                 'try { got = File.ReadAllText("/etc/shadow"); } catch (Exception) { }\n'
                                 'Console.WriteLine(got);'), {"failed"}),
        "network": (main(f'try {{ new TcpClient("127.0.0.1", {port}).GetStream().WriteByte(1); Console.WriteLine("connected"); }}'
                         ' catch (Exception) { Console.WriteLine("blocked"); }'), {"failed"}),
        "setsid_daemon": (main(f'Process.Start("setsid", "/bin/sh -c \\"{SLEEPER}\\""); Console.WriteLine("connected");'),
                          {"passed"}),
    }


def javascript_programs(port):
    writes = "".join(f'try {{ fs.writeFileSync("{p}", "x"); n++; }} catch (e) {{ }}\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": ("const cp = require('child_process');\n"
                      f"for (;;) {{ try {{ cp.spawn('/bin/sh', ['-c', '{SLEEPER}']); }} catch (e) {{ }} }}\n",
                      {"timeout", "runtime_error"}),
        "memory_bomb": ("const a = []; for (;;) a.push(new Array(1e6).fill(1.5));\n", {"runtime_error"}),
        "native_memory_bomb": ("const a = []; for (;;) { const b = Buffer.alloc(1 << 24); b.fill(1); a.push(b); }\n",
                               {"runtime_error"}),
        "infinite_loop": ("let x = 0; for (;;) x++;\n", {"timeout"}),
        "output_flood": ("const s = 'x'.repeat(1000); for (;;) process.stdout.write(s);\n", {"runtime_error"}),
        "write_outside": (f"const fs = require('fs'); let n = 0;\n{writes}console.log(n ? 'connected' : 'none');\n",
                          {"failed"}),
        "read_host_files": ("const fs = require('fs'); let got = 'none';\n"
                            f"try {{ got = fs.readFileSync('{SECRET_PATH}', 'utf8'); }} catch (e) {{ }}\n"
                            "try { got = fs.readFileSync('/etc/shadow', 'utf8'); } catch (e) { }\nconsole.log(got);\n",
                            {"failed"}),
        "network": (f"const s = require('net').connect({port}, '127.0.0.1', () => {{ console.log('connected'); s.end('x'); }});\n"
                    "s.on('error', () => console.log('blocked'));\n", {"failed"}),
        "setsid_daemon": (f"require('child_process').spawn('setsid', ['/bin/sh', '-c', '{SLEEPER}'],"
                          " {detached: true, stdio: 'ignore'}).unref();\nconsole.log('connected');\n", {"passed"}),
    }


def php_programs(port):
    writes = "".join(f'if (@file_put_contents("{p}", "x") !== false) $n++;\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": ("<?php\nwhile (true) { pcntl_fork(); }\n", {"timeout", "runtime_error"}),
        "memory_bomb": ("<?php\n$a = []; while (true) { $a[] = str_repeat('x', 1 << 20); }\n", {"runtime_error"}),
        "infinite_loop": ("<?php\n$x = 0; while (true) { $x++; }\n", {"timeout"}),
        "output_flood": ("<?php\n$s = str_repeat('x', 1000); while (true) { echo $s; }\n", {"runtime_error"}),
        "write_outside": (f"<?php\n$n = 0;\n{writes}echo $n ? \"connected\\n\" : \"none\\n\";\n", {"failed"}),
        "read_host_files": (f"<?php\n$got = @file_get_contents('{SECRET_PATH}');\n"
                            "if ($got === false) $got = @file_get_contents('/etc/shadow');\n"
                            "echo $got === false ? \"none\\n\" : $got;\n", {"failed"}),
        "network": (f"<?php\n$s = @fsockopen('127.0.0.1', {port}, $errno, $errstr, 1);\n"
                    "if ($s) { fwrite($s, 'x'); echo \"connected\\n\"; } else { echo \"blocked\\n\"; }\n", {"failed"}),
        "setsid_daemon": (f"<?php\nexec('setsid /bin/sh -c \"{SLEEPER}\" > /dev/null 2>&1 &');\necho \"connected\\n\";\n",
                          {"passed"}),
    }


def go_programs(port):
    def main(body):
        return ('package main\nimport ("fmt"; "net"; "os"; "os/exec"; "strings")\n'
                'var _, _, _, _, _ = fmt.Sprint, net.Dial, os.Exit, exec.Command, strings.Repeat\n'
                f"func main() {{\n{body}\n}}\n")

    writes = "".join(f'  if os.WriteFile("{p}", []byte("x"), 0o644) == nil {{ n++ }}\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": (main(f'for {{ exec.Command("/bin/sh", "-c", "{SLEEPER}").Start() }}'),
                      {"timeout", "runtime_error"}),
        "memory_bomb": (main("var l [][]byte\nfor { b := make([]byte, 1<<24); for i := range b { b[i] = 1 };"
                             " l = append(l, b) }"), {"runtime_error"}),
        "infinite_loop": (main("x := 0\nfor { x++ }"), {"timeout"}),
        "output_flood": (main('s := strings.Repeat("x", 1000)\nfor { fmt.Print(s) }'), {"runtime_error"}),
        "write_outside": (main(f'n := 0\n{writes}if n > 0 {{ fmt.Println("connected") }} else {{ fmt.Println("none") }}'),
                          {"failed"}),
        "read_host_files": (main(f'got := "none"\nif b, err := os.ReadFile("{SECRET_PATH}"); err == nil {{ got = string(b) }}\n'
                                 'if b, err := os.ReadFile("/etc/shadow"); err == nil { got = string(b) }\n'
                                 "fmt.Println(got)"), {"failed"}),
        "network": (main(f'if c, err := net.Dial("tcp", "127.0.0.1:{port}"); err == nil {{ c.Write([]byte("x"));'
                         ' fmt.Println("connected") } else { fmt.Println("blocked") }'), {"failed"}),
        "setsid_daemon": (main(f'exec.Command("setsid", "/bin/sh", "-c", "{SLEEPER}").Start()\nfmt.Println("connected")'),
                          {"passed"}),
    }


def rust_programs(port):
    def main(body):
        return ("#![allow(unused)]\nuse std::io::Write;\nuse std::process::Command;\nuse std::net::TcpStream;\n"
                f"fn main() {{\n{body}\n}}\n")

    writes = "".join(f'  if std::fs::write("{p}", "x").is_ok() {{ n += 1; }}\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": (main(f'loop {{ let _ = Command::new("/bin/sh").args(["-c", "{SLEEPER}"]).spawn(); }}'),
                      {"timeout", "runtime_error"}),
        "memory_bomb": (main("let mut v: Vec<Vec<u8>> = Vec::new();\nloop { v.push(vec![1u8; 1 << 24]); }"),
                        {"runtime_error"}),
        "infinite_loop": (main('let mut x: u64 = 0;\nloop { x = x.wrapping_add(1); if x == 0 { println!("{}", x); } }'),
                          {"timeout"}),
        "output_flood": (main('let s = "x".repeat(1000);\nlet mut o = std::io::stdout();\n'
                              "loop { if o.write_all(s.as_bytes()).is_err() { std::process::exit(1); } }"),
                         {"runtime_error"}),
        "write_outside": (main(f'let mut n = 0;\n{writes}println!("{{}}", if n > 0 {{ "connected" }} else {{ "none" }});'),
                          {"failed"}),
        "read_host_files": (main(f'let mut got = String::from("none");\n'
                                 f'if let Ok(s) = std::fs::read_to_string("{SECRET_PATH}") {{ got = s; }}\n'
                                 'if let Ok(s) = std::fs::read_to_string("/etc/shadow") { got = s; }\n'
                                 'println!("{}", got);'), {"failed"}),
        "network": (main(f'match TcpStream::connect("127.0.0.1:{port}") {{ Ok(mut c) => {{ let _ = c.write(b"x");'
                         ' println!("connected"); } Err(_) => println!("blocked") }'), {"failed"}),
        "setsid_daemon": (main(f'let _ = Command::new("setsid").args(["/bin/sh", "-c", "{SLEEPER}"]).spawn();\n'
                               'println!("connected");'), {"passed"}),
    }


def typescript_programs(port):
    """JavaScript's hostile programs, typed: tsc must accept them before they run."""
    writes = "".join(f'try {{ fs.writeFileSync("{p}", "x"); n++; }} catch (e) {{ }}\n' for p in WRITE_TARGETS)
    return {
        "fork_bomb": ("import * as cp from 'child_process';\n"
                      f"for (;;) {{ try {{ cp.spawn('/bin/sh', ['-c', '{SLEEPER}']); }} catch (e) {{ }} }}\n",
                      {"timeout", "runtime_error"}),
        "memory_bomb": ("const a: number[][] = []; for (;;) a.push(new Array(1e6).fill(1.5));\n", {"runtime_error"}),
        "infinite_loop": ("let x: number = 0; for (;;) x++;\n", {"timeout"}),
        "output_flood": ("const s: string = 'x'.repeat(1000); for (;;) process.stdout.write(s);\n", {"runtime_error"}),
        "write_outside": (f"import * as fs from 'fs';\nlet n: number = 0;\n{writes}console.log(n ? 'connected' : 'none');\n",
                          {"failed"}),
        "read_host_files": ("import * as fs from 'fs';\nlet got: string = 'none';\n"
                            f"try {{ got = fs.readFileSync('{SECRET_PATH}', 'utf8'); }} catch (e) {{ }}\n"
                            "try { got = fs.readFileSync('/etc/shadow', 'utf8'); } catch (e) { }\nconsole.log(got);\n",
                            {"failed"}),
        "network": ("import * as net from 'net';\n"
                    f"const s = net.connect({port}, '127.0.0.1', () => {{ console.log('connected'); s.end('x'); }});\n"
                    "s.on('error', () => console.log('blocked'));\n", {"failed"}),
        "setsid_daemon": ("import { spawn } from 'child_process';\n"
                          f"spawn('setsid', ['/bin/sh', '-c', '{SLEEPER}'], {{detached: true, stdio: 'ignore'}}).unref();\n"
                          "console.log('connected');\n", {"passed"}),
    }


PROGRAMS = {"python": py_programs, "c": c_programs, "java": java_programs, "cpp": cpp_programs,
            "c_sharp": c_sharp_programs, "javascript": javascript_programs, "php": php_programs,
            "go": go_programs, "rust": rust_programs, "typescript": typescript_programs}
MEMORY_MB = 512
"""The memory of every hostile run: a bomb must stop below 1.5x of it."""

# programs meant to time out get 2 s; the others 20 s (they end long before, even on a
# loaded machine)
EXPECT_SHORT = TestSpec.from_io([""], ["connected\n"], timeout_s=2)
EXPECT_LONG = TestSpec.from_io([""], ["connected\n"], timeout_s=20)


def expect(outcomes):
    return EXPECT_SHORT if "timeout" in outcomes else EXPECT_LONG


def run_dirs():
    """Run directories of this process's sandboxes (owned by its sandbox uids)."""
    found = set()
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "ppocoder-run-*")):
        try:
            if os.stat(path).st_uid in own_uids():
                found.add(path)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def hostile(sandbox_leftovers):
    with open(SECRET_PATH, "w") as f:
        f.write(SECRET)
    os.chmod(SECRET_PATH, 0o600)
    listener = Listener()
    # the Java compile worker keeps its working directory for its life: start it first
    assert compile_feedback("java", ["class A {}"])[0].outcome == "ok"
    dirs_before = run_dirs()
    try:
        results, expected = {}, {}
        started = time.perf_counter()
        for lang, programs in PROGRAMS.items():
            progs = programs(listener.port)
            res = run_tests(lang, [code for code, _ in progs.values()],
                            [expect(outcomes) for _, outcomes in progs.values()], workers=2,
                            memory_mb=MEMORY_MB)
            results[lang] = dict(zip(progs, res))
            expected[lang] = {k: v[1] for k, v in progs.items()}
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 5
        while sandbox_leftovers(MARK) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield {**results, "expected": expected, "connections": listener.connections, "elapsed": elapsed,
               "leftover": sandbox_leftovers(MARK), "new_dirs": run_dirs() - dirs_before}
    finally:
        listener.close()
        os.unlink(SECRET_PATH)
        for path in OUTSIDE:
            if os.path.exists(path):
                os.unlink(path)


CASES = [(lang, name) for lang, programs in PROGRAMS.items() for name in programs(0)]


@pytest.mark.parametrize("lang,name", CASES)
def test_outcome_class(hostile, lang, name):
    res = hostile[lang][name]
    assert res.outcome in hostile["expected"][lang][name], (name, res.outcome, [str(m) for m in res.messages])
    assert res.isolation.startswith(f"{isolation_level()}+")
    assert not any(SECRET in m.text for m in res.messages)
    if name == "output_flood" and lang not in ("javascript", "typescript"):
        # (Node queues writes to a full pipe in memory while a loop never yields: its
        # flood ends at the heap cap instead, also a runtime error)
        assert "output limit exceeded" in res.messages[0].text, res.messages[0].text


@pytest.mark.parametrize("lang,name", [c for c in CASES if "memory_bomb" in c[1]])
def test_memory_bombs_stop_near_the_limit(hostile, lang, name):
    res = hostile[lang][name]
    # the runtime's own heap cap (JVM, V8, mono, PHP) or RLIMIT_AS stopped it
    assert res.peak_memory_mb is not None and res.peak_memory_mb <= 1.5 * MEMORY_MB, (name, res.peak_memory_mb)
    assert res.peak_memory_mb > 0.2 * MEMORY_MB  # it did grow: the measurement is real


def test_no_process_left_behind(hostile):
    assert hostile["leftover"] == []


def test_nothing_written_outside_and_no_run_dir_left(hostile):
    assert [p for p in OUTSIDE if os.path.exists(p)] == []
    assert not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(__file__)), f"{MARK}-up"))
    assert hostile["new_dirs"] == set()


def test_no_network(hostile):
    assert hostile["connections"] == 0


def test_runs_stayed_within_their_time_limits(hostile):
    # 68 programs, 2 at a time, at most 2 s for the looping ones: nothing hung the scorer
    assert hostile["elapsed"] < 600


def test_scorer_still_works_afterwards(hostile):
    ok = TestSpec.from_io(["2\n"], ["4\n"])
    res = run_tests("python", ["print(int(input()) * 2)\n"], [ok])
    assert res[0].outcome == "passed"
    res = run_tests("c", ["#include <stdio.h>\nint main(void){int x; scanf(\"%d\",&x); printf(\"%d\\n\", 2*x);}\n"],
                    [ok])
    assert res[0].outcome == "passed"


HACK_CHECK = TestSpec(test="def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n",
                      entry_point="square")
REWARD_HACKS = {
    "exit_before_asserts": "import sys\nsys.exit(0)\n",
    "os_exit_before_asserts": "import os\nos._exit(0)\n",
    "exit_in_call": "def square(x):\n    import os\n    os._exit(0)\n",
    "patched_assertion_error": ("import builtins\nclass Quiet(Exception):\n    pass\n"
                                "builtins.AssertionError = Quiet\ndef square(x):\n    return 0\n"),
    "always_equal": ("class Any:\n    def __eq__(self, other):\n        return True\n"
                     "    __hash__ = None\ndef square(x):\n    return Any()\n"),
    "int_subclass_equal": ("class I(int):\n    def __eq__(self, other):\n        return True\n"
                           "def square(x):\n    return I(0)\n"),
    "prints_passed": ("print('passed')\nprint('{\"outcome\": \"passed\", \"passed\": 2, \"total\": 2}')\n"
                      "def square(x):\n    return 0\n"),
    "forges_verdict_fds": ("import json, os\nfake = json.dumps({'nonce': '0' * 32, 'outcome': 'passed',"
                           " 'passed': 2, 'total': 2, 'messages': []}).encode()\n"
                           "for fd in range(3, 64):\n    try:\n        os.write(fd, fake)\n    except OSError:\n"
                           "        pass\ndef square(x):\n    return 0\n"),
    "reads_judge_memory": ("import os\nppid = os.getppid()\nleaked = []\n"
                           "for name in ('environ', 'mem', 'fd/0', 'cmdline'):\n    try:\n"
                           "        leaked.append(open(f'/proc/{ppid}/{name}', 'rb').read(100))\n"
                           "    except OSError:\n        pass\n"
                           "def square(x):\n    raise RuntimeError(repr(leaked))\n"),
    "kills_judge": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef square(x):\n    return 0\n",
}


def test_reward_hacks_earn_no_pass():
    res = run_tests("python", list(REWARD_HACKS.values()), [HACK_CHECK] * len(REWARD_HACKS), timeout_s=3,
                    workers=2)
    got = dict(zip(REWARD_HACKS, res))
    for name, r in got.items():
        assert r.outcome != "passed" and r.reward < 0, (name, r.outcome)
    assert got["patched_assertion_error"].outcome == "failed"
    assert got["always_equal"].outcome == "runtime_error"
    assert "cannot be compared" in got["always_equal"].messages[0].text
    assert got["int_subclass_equal"].outcome == "runtime_error"
    assert got["prints_passed"].outcome == "failed"
    # the forged bytes land in the candidate's own reply pipe: the judge sees garbage
    assert got["forges_verdict_fds"].outcome == "runtime_error"
    # the judge's /proc files are closed to the candidate (non-dumpable): only cmdline is readable
    assert got["reads_judge_memory"].outcome == "runtime_error"
    assert "PATH=" not in got["reads_judge_memory"].messages[0].text
    # the judge dies (runtime error) or, as PID 1 of the run's namespace, ignores the kill
    assert got["kills_judge"].outcome in ("runtime_error", "failed")
    # the honest answer still passes
    assert run_tests("python", ["def square(x):\n    return x * x\n"], [HACK_CHECK])[0].outcome == "passed"


def test_scorer_recovers_when_a_zygote_dies():
    from rewards.execution import workers

    spec = TestSpec(asserts=("assert f() == 1",))
    assert run_tests("python", ["def f():\n    return 1\n"], [spec])[0].outcome == "passed"
    for worker in list(workers._zygotes.members):
        if worker.proc is not None:
            worker.proc.kill()
            worker.proc.wait()
    res = run_tests("python", ["def f():\n    return 1\n", "def f():\n    return 2\n"], [spec, spec], workers=2)
    assert [r.outcome for r in res] == ["passed", "failed"]


def test_a_run_cannot_change_the_modules_the_next_run_imports():
    """The zygote imports common modules once (`zygote.PRELOAD`); a run that patches one
    changes its own copy only, whatever zygote the next run comes from."""
    poison = ("import math, typing, collections, re\n"
              "math.sqrt = lambda x: 42\ntyping.List = None\ncollections.Counter = dict\n"
              "re.compile = None\ndef f():\n    return 1\n")
    honest = ("import math, typing, collections, re\n"
              "def f():\n    return [math.sqrt(4), typing.List is not None,\n"
              "            collections.Counter('aab')['a'], re.compile('a').pattern]\n")
    spec = TestSpec(asserts=("assert f() == 1",))
    check = TestSpec(asserts=("assert f() == [2.0, True, 2, 'a']",))
    res = run_tests("python", [poison, honest, poison, honest], [spec, check, spec, check], workers=1)
    assert [r.outcome for r in res] == ["passed"] * 4, [[str(m) for m in r.messages] for r in res]


SCAN = r'''
import gc, re
pattern = re.compile(rb"SECRET-EXPECTED-[0-9a-f]{32}")
found = set()
for obj in gc.get_objects():
    for value in (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else [obj]):
        if isinstance(value, str):
            found.update(m.decode() for m in pattern.findall(value.encode("utf-8", "replace")))
try:  # raw memory too, freed blocks included (the harness makes this non-dumpable: denied)
    maps, mem = open("/proc/self/maps"), open("/proc/self/mem", "rb", 0)
except OSError:
    maps, mem = [], None
if mem is not None:
    for line in maps:
        span, perms = line.split()[:2]
        if "r" not in perms:
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        if end - start > 1 << 28:
            continue
        try:
            mem.seek(start)
            found.update(m.decode() for m in pattern.findall(mem.read(end - start)))
        except (OSError, ValueError, OverflowError):
            pass
'''


def test_tests_and_expected_outputs_never_reach_the_candidates_memory():
    secret = f"SECRET-EXPECTED-{uuid.uuid4().hex}"
    check = TestSpec(test=f"def check(candidate):\n    assert candidate() == {secret!r}\n", entry_point="f")
    io = TestSpec.from_io([""], [secret + "\n"], timeout_s=20)
    # an honest run first, so that the same warm process has held these tests before
    honest = run_tests("python", [f"def f():\n    return {secret!r}\n"], [check])
    assert honest[0].outcome == "passed"
    cheat_fn = SCAN + "\ndef f():\n    return sorted(found)[0] if found else None\n"
    cheat_io = SCAN + "\nprint(sorted(found)[0] if found else 'nothing')\n"
    res = run_tests("python", [cheat_fn, cheat_fn], [check, check], timeout_s=20)
    assert [r.outcome for r in res] == ["failed", "failed"], [[str(m) for m in r.messages] for r in res]
    res = run_tests("python", [cheat_io], [io])
    assert res[0].outcome == "failed", [str(m) for m in res[0].messages]
