; Inno Setup 6 script for Lantern's Windows installer (per-user by default, x64).
; Compiled by installers/windows/package.py, which passes the defines below, e.g.
;   ISCC.exe /DAppVersion=0.1.0 /DAppNumericVersion=0.1.0.0 /DSourceDir=C:\src\dist\lantern
;            /DOutputDir=C:\src\dist /DRepoRoot=C:\src installers\windows\lantern.iss
; and, when signing, /DSignSetup=1 plus a Sign Tool named "lantern" (/Slantern=signtool ... $f).

#if VER < EncodeVer(6, 3, 0)
  #error Inno Setup 6.3 or newer is required (the x64compatible architecture identifier).
#endif
#ifndef AppVersion
  #error Define AppVersion (/DAppVersion=...); installers/windows/package.py passes it.
#endif
#ifndef AppNumericVersion
  #define AppNumericVersion "0.0.0.0"
#endif
#ifndef SourceDir
  #error Define SourceDir (/DSourceDir=...): the PyInstaller folder holding Lantern.exe.
#endif
#ifndef OutputDir
  #error Define OutputDir (/DOutputDir=...): where the setup .exe goes.
#endif
#ifndef RepoRoot
  #error Define RepoRoot (/DRepoRoot=...): the checkout, for the setup icon.
#endif

[Setup]
; AppId identifies the installation across versions (upgrades, uninstall entry): never change it.
AppId={{16D43B54-9BD3-472B-B302-704B03CAC4E7}
AppName=Lantern
AppVersion={#AppVersion}
AppPublisher=Lantern developers
AppCopyright=Lantern developers, Apache-2.0
VersionInfoVersion={#AppNumericVersion}
VersionInfoProductTextVersion={#AppVersion}
VersionInfoDescription=Lantern Setup
; Per-user install (no UAC prompt) into %LOCALAPPDATA%\Programs\Lantern by default; the dialog
; lets an administrator choose an all-users install into Program Files instead.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\Lantern
DefaultGroupName=Lantern
DisableProgramGroupPage=yes
; The bundle is x64 only; x64compatible also admits Arm64 Windows 11, which runs it emulated.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
SetupIconFile={#RepoRoot}\resources\icons\lantern.ico
UninstallDisplayIcon={app}\Lantern.exe
UninstallDisplayName=Lantern
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
; Compress in a separate process: the payload is hundreds of MB.
LZMAUseSeparateProcess=yes
OutputDir={#OutputDir}
OutputBaseFilename=Lantern-{#AppVersion}-windows-x64-setup
SetupLogging=yes
; A running Lantern holds its exe, DLLs and Python extension modules (.pyd) open: Setup asks
; (or, when silent, goes ahead) to close it through Restart Manager before replacing them.
; Lantern does not register for restart, so Setup does not try to start it again afterwards.
CloseApplications=yes
CloseApplicationsFilter=*.exe,*.dll,*.pyd
RestartApplications=no
#ifdef SignSetup
; Inno Setup signs Setup and the uninstaller it installs while compiling; signing the finished
; .exe afterwards would leave the uninstaller (and Setup's temporary self-copies) unsigned.
SignTool=lantern
SignedUninstaller=yes
  #ifdef SignedUninstallerDir
SignedUninstallerDir={#SignedUninstallerDir}
  #endif
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; Replace the runtime folder as a whole on upgrade: llama.cpp picks its CPU backends by scanning
; _internal\llama_cpp\lib, so a backend DLL left over from an older version must not survive.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Lantern"; Filename: "{app}\Lantern.exe"
Name: "{group}\{cm:UninstallProgram,Lantern}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Lantern"; Filename: "{app}\Lantern.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Lantern.exe"; Description: "{cm:LaunchProgram,Lantern}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the program folder's own runtime files: settings, models and courses live under
; %APPDATA% / %LOCALAPPDATA% and are kept, so a reinstall finds them again.
Type: filesandordirs; Name: "{app}\_internal"
