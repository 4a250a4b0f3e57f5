// The comparison mesher of bench_meshing: manifold-3d's Manifold.levelSet on the same gyroid
// sheet (5 mm cells, 0.3 mm walls, clipped to a 20 mm cube), at the edge lengths given.
//
//   node levelset.mjs OUT_DIR EDGE [EDGE ...]
//
// Prints one JSON line per edge length (seconds, triangles, genus, volume) and writes the mesh
// as binary STL to OUT_DIR/manifold_<edge>.stl for bench_meshing to check like its own.
import Module from 'manifold-3d';
import {writeFileSync} from 'node:fs';

const [outDir, ...edges] = process.argv.slice(2);
const wasm = await Module();
wasm.setup();
const {Manifold} = wasm;

const cell = 5.0, wall = 0.3, size = 20.0;
const k = 2 * Math.PI / cell;
// positive inside: within wall/2 of the surface (f / |grad f|, the distance to first order) and
// inside the cube
const sdf = ([px, py, pz]) => {
  const x = k * px, y = k * py, z = k * pz;
  const sx = Math.sin(x), sy = Math.sin(y), sz = Math.sin(z), cx = Math.cos(x), cy = Math.cos(y), cz = Math.cos(z);
  const f = sx * cy + sy * cz + sz * cx;
  const gx = cx * cy - sz * sx, gy = cy * cz - sx * sy, gz = cz * cx - sy * sz;
  const distance = f / Math.max(Math.hypot(gx, gy, gz), 1e-6) / k;
  const box = Math.min(px, size - px, py, size - py, pz, size - pz);
  return Math.min(wall / 2 - Math.abs(distance), box);
};

function writeStl(path, mesh) {
  const tris = mesh.numTri, stride = mesh.numProp;
  const buffer = Buffer.alloc(84 + 50 * tris);
  buffer.write('binary STL manifold-3d levelSet', 0);
  buffer.writeUInt32LE(tris, 80);
  for (let t = 0; t < tris; ++t) {
    const at = 84 + 50 * t + 12;    // normal left zero: readers recompute it
    for (let c = 0; c < 3; ++c) {
      const v = mesh.triVerts[3 * t + c];
      for (let a = 0; a < 3; ++a) buffer.writeFloatLE(mesh.vertProperties[stride * v + a], at + 12 * c + 4 * a);
    }
  }
  writeFileSync(path, buffer);
}

for (const text of edges) {
  const edge = Number(text);
  const start = performance.now();
  const solid = Manifold.levelSet(sdf, {min: [-0.5, -0.5, -0.5], max: [size + 0.5, size + 0.5, size + 0.5]}, edge);
  const seconds = (performance.now() - start) / 1000;
  const path = `${outDir}/manifold_${edge}.stl`;
  writeStl(path, solid.getMesh());
  console.log(JSON.stringify({edge, seconds, triangles: solid.numTri(), genus: solid.genus(), volume: solid.volume(), stl: path}));
  solid.delete();
}
