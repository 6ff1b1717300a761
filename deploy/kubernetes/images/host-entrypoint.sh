#!/bin/sh
# Entry point of the reg-host image. On cgroup v2 with a private cgroup namespace (containerd's
# default) this container's own cgroup is the root of what the host sees, and it holds the host's
# process: the kernel's "no internal processes" rule then refuses to enable the memory, pids and cpu
# controllers for children, which every student's container cgroup needs. So move the processes
# into a leaf (init) first, as Docker-in-Docker does, and let Reg create its cgroups beside it.
# Not done when /sys/fs/cgroup is the node's real root (cgroup v1, or no cgroup namespace): there
# the root is exempt from the rule, and moving the node's processes would be wrong.
set -eu
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
  mkdir -p /sys/fs/cgroup/init
  # A process may be starting while we move: retry until the root cgroup is empty.
  for _ in 1 2 3 4 5; do
    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    [ -s /sys/fs/cgroup/cgroup.procs ] || break
  done
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control
fi
exec node /app/apps/sandbox-host/dist/main.js "$@"
