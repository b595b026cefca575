"""The first-run setup wizard (re-runnable from the app menu): `SetupWizard(ctx)`."""

from __future__ import annotations

from app.ui.wizard.setup_wizard import SetupWizard

__all__ = ["SetupWizard"]
