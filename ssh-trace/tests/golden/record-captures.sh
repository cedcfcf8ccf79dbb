#!/usr/bin/env bash
# Records real captures for the output comparison (root): a private sshd on
# loopback, logins of the harness's test user (commands, sudo in a pty, scp,
# a wrong key), alert rules that fire, and a second capture with a tiny ring
# buffer under an exec storm (agent.loss). Usage: record-captures.sh BIN DIR
set -euo pipefail
BIN=$1; DIR=$2; USER_=sshtrace-test
mkdir -p "$DIR"; cd "$DIR"
rm -f key key.pub wrong wrong.pub host host.pub
ssh-keygen -q -t ed25519 -N '' -f key; ssh-keygen -q -t ed25519 -N '' -f wrong; ssh-keygen -q -t ed25519 -N '' -f host
id -u $USER_ >/dev/null 2>&1 || useradd -m -s /bin/bash $USER_
usermod -p '*' $USER_
mkdir -p /home/$USER_/.ssh /run/sshd; cat key.pub >> /home/$USER_/.ssh/authorized_keys; chown -R $USER_: /home/$USER_/.ssh
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > sshd.conf <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/host
UsePAM no
StrictModes no
AllowUsers $USER_
PasswordAuthentication no
KbdInteractiveAuthentication no
PidFile none
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
/usr/sbin/sshd -D -f sshd.conf -E sshd.log & SSHD=$!
trap 'kill $SSHD 2>/dev/null || true' EXIT
sleep 0.5
cat > alerts.toml <<CFG
state_file = "$DIR/alert-state.json"
[[rule]]
type = "new_source"
[[rule]]
type = "connection_rate"
max = 1
window = "1m"
[[rule]]
type = "unauthenticated_rate"
max = 0
window = "1m"
[[rule]]
type = "privilege_gain"
severity = "critical"
[[rule]]
type = "session_bytes"
max = 2000
[[rule]]
type = "idle"
after = "1s"
[[rule]]
type = "login_after_idle"
after = "1s"
CFG
rm -f alert-state.json
SSH=(ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -p "$PORT")
run_agent() { # capture extra-args...
  local cap=$1; shift
  rm -f "$cap"*
  "$BIN" record -w "$cap" --no-sessions-socket "$@" 2>agent.err & AGENT=$!
  for _ in $(seq 100); do grep -q . agent.err 2>/dev/null && break; sleep 0.1; done
  sleep 1
}
stop_agent() { kill -TERM $AGENT; wait $AGENT || true; }

if [ -z "${ONLY_LOSS:-}" ]; then
run_agent login.cap --alerts alerts.toml
"${SSH[@]}" -i key $USER_@127.0.0.1 'id; ls / >/dev/null; echo "héllo \\ wörld" $(printf "\x01\xff"); sh -c "exit 3"; sleep 0.2' || true
sleep 2.5
"${SSH[@]}" -tt -i key $USER_@127.0.0.1 'sudo -u nobody /usr/bin/id; kill -9 $$' </dev/null || true
"${SSH[@]}" -i wrong $USER_@127.0.0.1 true 2>/dev/null || true
scp -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -P "$PORT" -i key /etc/services $USER_@127.0.0.1:/tmp/golden-scp.$$ || true
"${SSH[@]}" -i key $USER_@127.0.0.1 "head -c 200000 /dev/zero | base64 >/dev/null; rm -f /tmp/golden-scp.$$; for i in 1 2 3; do true; done" || true
sleep 1.5
stop_agent

fi
run_agent loss.cap --ring-buffer-size 4096
"${SSH[@]}" -i key $USER_@127.0.0.1 'for i in $(seq 200); do /bin/true $(seq 2000); done; for i in $(seq 500); do /bin/true; done' || true
sleep 1.5
stop_agent
ls -l "$DIR"/*.cap
