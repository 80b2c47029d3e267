# Debian packages for the install scripts (sourced, not run).
#
#   source scripts/lib/debian.sh
#   step "installing X from Debian's packages" "1-3 min" quietly install_debian_packages x || fail ...

# install_debian_packages PACKAGE...: apt-get install, as root or through sudo. Our install
# scripts may run side by side (bootstrap and dagger-offline.sh up): they take turns on one
# lock file, and wait for anybody else's apt or dpkg run instead of failing on its lock.
install_debian_packages() {
    local as_root=()
    [[ $EUID -eq 0 ]] || as_root=(sudo)
    local apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive
        flock /var/lock/swarm-apt.lock apt-get -o DPkg::Lock::Timeout=600)
    "${apt[@]}" update -qq && "${apt[@]}" install -y -qq "$@"
}
