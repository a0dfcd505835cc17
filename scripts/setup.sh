# Shared by scripts/run and scripts/test: Debian packages and the project's virtualenv.
# Source it after `cd` to the repository root; it defines functions only.

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }

deb_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Runs apt-get as root, or through sudo when that needs no password; 1 otherwise.
apt_get() {
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
    else
        return 1
    fi
}

can_apt() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

install_debs() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "not a Debian system: install PostgreSQL and Alertmanager yourself," \
            "or the tests that need them will be skipped"
        return 0
    fi
    for pkg in "$@"; do
        deb_installed "$pkg" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! can_apt; then
        warn "missing Debian packages: ${missing[*]} (not root, and no password-less sudo)."
        warn "Tests that need them will be SKIPPED. Install them with:"
        warn "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
        return 0
    fi
    say "installing Debian packages: ${missing[*]}"
    if ! { apt_get update -qq && apt_get install -y -qq --no-install-recommends "${missing[@]}"; }
    then
        warn "apt-get could not install ${missing[*]}: tests that need them will be skipped"
        warn "(or fail, with ONCALL_REQUIRE_SERVERS=1)"
    fi
}

setup_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        if ! "$PYTHON" -m venv "$VENV"; then
            # Debian's own python3 needs python3-venv for ensurepip.
            rm -rf "$VENV"
            if can_apt && command -v dpkg-query >/dev/null 2>&1 && ! deb_installed python3-venv
            then
                apt_get update -qq
                apt_get install -y -qq --no-install-recommends python3-venv
                "$PYTHON" -m venv "$VENV"
            else
                warn "could not create $VENV with $PYTHON -m venv"
                exit 1
            fi
        fi
    fi
    # Reinstall when pyproject.toml or the interpreter changed (or on request).
    local stamp="$VENV/.oncall-test-stamp" want
    want="$(cat pyproject.toml; "$VENV/bin/python" -VV; echo "$EXTRAS")"
    want="$(printf '%s' "$want" | sha256sum | cut -d' ' -f1)"
    if [ "${ONCALL_REINSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$VENV/bin/python" -c 'import bot' 2>/dev/null; then
        return 0
    fi
    say "installing the project and its test dependencies into $VENV"
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$EXTRAS"
    printf '%s\n' "$want" >"$stamp"
}

