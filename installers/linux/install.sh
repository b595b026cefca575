#!/bin/sh
# Install the unpacked Lantern folder for this user: a `lantern` command in ~/.local/bin and a menu
# entry with its icon. Run it from the unpacked folder; `./install.sh --uninstall` removes both
# (your courses, models and settings stay in ~/.local/share/lantern and ~/.config/lantern).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin="${XDG_BIN_HOME:-$HOME/.local/bin}"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor/512x512/apps"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$bin/lantern" "$apps/lantern.desktop" "$icons/lantern.png"
  echo "Lantern's command and menu entry are removed. This folder ($here) can now be deleted."
  exit 0
fi

mkdir -p "$bin" "$apps" "$icons"
ln -sf "$here/lantern" "$bin/lantern"
cp "$here/share/icons/lantern.png" "$icons/lantern.png"
# The menu entry starts this folder's binary by its full path, so PATH does not matter.
sed "s|^Exec=lantern|Exec=\"$here/lantern\"|; s|^TryExec=lantern|TryExec=$here/lantern|" \
  "$here/share/applications/lantern.desktop" > "$apps/lantern.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
echo "Lantern is installed: open it from your applications menu, or run 'lantern'."
case ":$PATH:" in *":$bin:"*) ;; *) echo "Note: $bin is not on your PATH; add it to run 'lantern' from a terminal." ;; esac
