{
  # Two plain executables, no Node addon: the launcher must not depend on
  # Node's ABI, and a crash in C must not take the host process down.
  "target_defaults": {
    "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
               "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"],
    "cflags!": ["-fno-exceptions"],
  },
  "targets": [
    {
      "target_name": "reg-launch",
      "type": "executable",
      "sources": [
        "src/main.c", "src/options.c", "src/die.c", "src/status.c", "src/report.c",
        "src/run.c", "src/join.c", "src/insert.c", "src/ns.c", "src/mounts.c",
        "src/cgroup.c", "src/caps.c", "src/seccomp.c", "src/command.c", "src/supervise.c",
        "src/fds.c", "src/control.c", "src/park.c"
      ]
    },
    {
      # Statically linked so it runs in a lower layer that has no libc.
      "target_name": "reg-probe",
      "type": "executable",
      "sources": ["test/probe.c", "test/escapes.c"],
      "libraries": ["-lpthread"],
      "ldflags": ["-static"]
    },
    {
      # The log helper of a detached container (src/logger/log.c): replaces a Node
      # process per container, so it must stay tiny (one static buffer, no allocation).
      "target_name": "reg-log",
      "type": "executable",
      "sources": ["src/logger/log.c", "src/logger/rotate.c"]
    }
  ]
}
