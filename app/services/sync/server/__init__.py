"""The sync server (issue 18; the `[server]` extra, not in the desktop bundle). Empty until then: the
package exists so its import contract (no UI, inference or course search) is enforced from day one."""
