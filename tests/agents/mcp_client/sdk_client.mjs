// cephalo-mcp driven by the official MCP TypeScript SDK (Client + StdioClientTransport), with a
// real cephalo-serve --echo on 127.0.0.1 behind describe_image. The SDK negotiates the protocol
// and validates every structuredContent against the tool's outputSchema; this script checks the
// contents. Exit status 0 when every check passed.
//
//   node sdk_client.mjs --mcp PATH/cephalo-mcp --serve PATH/cephalo-serve     (ctest: agents.mcp.sdk)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) {
    console.error(`usage: node sdk_client.mjs --mcp CEPHALO_MCP --serve CEPHALO_SERVE (missing ${name})`);
    process.exit(2);
  }
  return args[i + 1];
};
const mcpProgram = option('--mcp');
const serveProgram = option('--serve');

let Client, StdioClientTransport, McpError, AjvJsonSchemaValidator;
try {
  ({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
  ({ AjvJsonSchemaValidator } = await import('@modelcontextprotocol/sdk/validation/ajv'));
  ({ StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js'));
  ({ McpError } = await import('@modelcontextprotocol/sdk/types.js'));
} catch (e) {
  console.error(`FAIL: the MCP TypeScript SDK is not installed beside this script (${e.code ?? e.message}).`);
  console.error(`      Run: npm ci --prefix ${path.dirname(new URL(import.meta.url).pathname)}`);
  process.exit(1);
}

let failures = 0;
const check = (ok, what, detail = '') => {
  if (ok) {
    console.log(`ok: ${what}`);
  } else {
    failures++;
    console.log(`FAIL: ${what}${detail ? `\n  ${detail}` : ''}`);
  }
};
const long = { timeout: 300000 };    // a design may take a while on a busy machine

// cephalo-serve --echo on a free loopback port; its first stdout line is the endpoint
function startServe() {
  return new Promise((resolve, reject) => {
    const child = spawn(serveProgram, ['--echo', '--bind', 'tcp://127.0.0.1:0', '--quiet'],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`cephalo-serve printed no endpoint in 10 s: ${seen}`)), 10000);
    child.on('error', reject);
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const line = seen.split('\n').find((l) => l.startsWith('tcp://'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, endpoint: line.trim() });
      }
    });
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cephalo-mcp-sdk-'));
const serve = await startServe();
console.log(`cephalo-serve --echo on ${serve.endpoint}; work folder ${work}`);
const client = new Client({ name: 'cephalo-mcp-sdk-test', version: '1.0.0' });
const transport = new StdioClientTransport({
  command: mcpProgram,
  args: ['--endpoint', serve.endpoint, '--work-dir', work],
  stderr: 'inherit',
});

try {
  await client.connect(transport);
  const info = client.getServerVersion();
  check(info?.name === 'cephalo-mcp', `initialized with ${info?.name} ${info?.version}`);
  check(client.getServerCapabilities()?.tools !== undefined, 'the server declares tools');
  await client.ping();
  check(true, 'ping');

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check(JSON.stringify(names) === JSON.stringify(['check_mesh', 'describe_image', 'design_part', 'interpret_design']),
        `tools/list: ${names.join(', ')}`);
  for (const tool of tools)
    check(tool.inputSchema?.type === 'object' && tool.outputSchema?.type === 'object',
          `${tool.name} has inputSchema and outputSchema`);
  // callTool validates structuredContent against the outputSchema itself; these validators (the
  // SDK's own) also show that the schemas are strict enough to refuse a result missing a field
  const validator = new AjvJsonSchemaValidator();
  const conforms = (name, result) => {
    const schema = tools.find((t) => t.name === name).outputSchema;
    const verdict = validator.getValidator(schema)(result.structuredContent);
    check(verdict.valid, `${name}: structuredContent conforms to its outputSchema`, verdict.errorMessage);
    const broken = { ...result.structuredContent };
    delete broken[schema.required[0]];
    check(!validator.getValidator(schema)(broken).valid, `${name}: without '${schema.required[0]}' it would not`);
  };

  // interpret_design: words to a spec, nothing built
  const reading = await client.callTool({ name: 'interpret_design',
                                          arguments: { text: 'a 10 mm gyroid cube with 5 mm cells' } });
  check(!reading.isError && JSON.stringify(reading.structuredContent?.spec).includes('gyroid'),
        'interpret_design reads a gyroid', JSON.stringify(reading.content));
  conforms('interpret_design', reading);

  // design_part: an STL that exists, with a preview image
  const design = await client.callTool({ name: 'design_part',
                                         arguments: { text: 'a 10 mm gyroid cube with 5 mm cells',
                                                      output: 'sdk_part.stl', preview: true } },
                                       undefined, long);
  check(!design.isError, 'design_part builds the text', JSON.stringify(design.content?.[0]));
  const files = design.structuredContent?.files ?? [];
  const stl = files[0]?.path;
  check(stl === path.join(work, 'sdk_part.stl') && fs.existsSync(stl) && fs.statSync(stl).size > 1000,
        `design_part wrote ${stl}`);
  check(design.structuredContent?.checks?.printable === true, 'design_part says printable');
  conforms('design_part', design);
  const image = design.content?.find((b) => b.type === 'image');
  check(image?.mimeType === 'image/png' && Buffer.from(image.data, 'base64').subarray(1, 4).toString() === 'PNG',
        'design_part returned the preview as a PNG image block');

  // check_mesh on the written STL
  const checked = await client.callTool({ name: 'check_mesh', arguments: { path: stl } }, undefined, long);
  const report = checked.structuredContent?.report;
  check(!checked.isError && report?.watertight === true && report?.volume > 0,
        `check_mesh: watertight, volume ${report?.volume} mm^3`, JSON.stringify(checked.content?.[0]));
  conforms('check_mesh', checked);

  // describe_image through cephalo-serve --echo, with the preview as the image
  const preview = design.structuredContent?.preview;
  const prompt = 'What structure is this?';
  const described = await client.callTool({ name: 'describe_image', arguments: { image: preview, prompt } },
                                          undefined, long);
  const expected = `echo: ${prompt.length} characters, 1 image(s), ${fs.statSync(preview).size} bytes`;
  check(!described.isError && described.structuredContent?.text === expected,
        `describe_image answered "${described.structuredContent?.text}"`, `expected "${expected}"`);
  conforms('describe_image', described);

  // failures the calling model can read: results with isError, not protocol errors
  const nothing = await client.callTool({ name: 'design_part', arguments: { text: 'a pleasant afternoon with tea' } },
                                        undefined, long);
  check(nothing.isError === true && nothing.content?.[0]?.text.includes('nothing to build'),
        'an unbuildable text gives isError', JSON.stringify(nothing.content));
  const missing = await client.callTool({ name: 'check_mesh', arguments: { path: 'no_such_file.stl' } });
  check(missing.isError === true && missing.content?.[0]?.text.includes('not found'), 'a missing file gives isError');

  // a protocol error: an unknown tool is a JSON-RPC error
  try {
    await client.callTool({ name: 'make_coffee', arguments: {} });
    check(false, 'an unknown tool is refused');
  } catch (e) {
    check(e instanceof McpError && e.code === -32602, `an unknown tool is refused with ${e.code}`, e.message);
  }
} catch (e) {
  failures++;
  console.log(`FAIL: ${e.stack ?? e}`);
} finally {
  await client.close();
  serve.child.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}

if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
