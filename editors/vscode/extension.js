// The VS Code client of `fdc lsp`: starts the server over stdio for `.fdl` files.
// Settings: `fdl.server.path` (default `fdc` on the PATH), `fdl.server.extraArgs`.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration('fdl');
  const command = config.get('server.path', 'fdc');
  const args = [...config.get('server.extraArgs', []), 'lsp'];
  const serverOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'fdl' }],
    synchronize: {
      // Files changed outside the editor (git checkout, `fdc fmt`) are checked again.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{fdl,json}'),
    },
  };
  client = new LanguageClient('fdl', 'fdc language server', serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('fdl.server')) {
        vscode.window.showInformationMessage('fdc: reload the window to use the new server settings.');
      }
    }),
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
