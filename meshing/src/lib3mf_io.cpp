// 3MF writing and reading with lib3mf's C interface (see lib3mf_io.h).
#include "lib3mf_io.h"

#include <Model/COM/NMR_DLLInterfaces.h>

#include <stdexcept>

namespace cephalo::meshing::detail {
namespace {

// Owns one lib3mf handle.
struct Handle {
  NMR::PLib3MFBase *pointer = nullptr;
  Handle() = default;
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  ~Handle()
  {
    if (pointer) NMR::lib3mf_release(pointer);
  }
  NMR::PLib3MFBase **out() { return &pointer; }
};

void check(LIB3MFRESULT result, const std::string &what, const std::filesystem::path &path)
{
  if (result != LIB3MF_OK)
    throw std::runtime_error(path.string() + ": 3MF " + what + " failed (lib3mf error " +
                             std::to_string(result) + ")");
}

std::string object_name(NMR::PLib3MFModelObjectResource *object)
{
  // the length first (without the terminating zero), then the name into a buffer one longer
  ULONG needed = 0;
  if (NMR::lib3mf_object_getnameutf8(object, nullptr, 0, &needed) != LIB3MF_OK || needed == 0)
    return {};
  std::string name(needed + 1, '\0');
  if (NMR::lib3mf_object_getnameutf8(object, name.data(), needed + 1, &needed) != LIB3MF_OK)
    return {};
  name.resize(name.find('\0') == std::string::npos ? name.size() : name.find('\0'));
  return name;
}

NMR::MODELTRANSFORM identity()
{
  NMR::MODELTRANSFORM t{};
  for (int r = 0; r < 3; ++r) t.m_fFields[r][r] = 1.0f;
  return t;
}

// a then b: the transform of a component inside a build item
NMR::MODELTRANSFORM compose(const NMR::MODELTRANSFORM &outer, const NMR::MODELTRANSFORM &inner)
{
  NMR::MODELTRANSFORM t{};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) {
      float v = c == 3 ? outer.m_fFields[r][3] : 0.0f;
      for (int k = 0; k < 3; ++k) v += outer.m_fFields[r][k] * inner.m_fFields[k][c];
      t.m_fFields[r][c] = v;
    }
  return t;
}

double unit_in_mm(DWORD unit)
{
  switch (unit) {
  case NMR::MODELUNIT_MICROMETER:
    return 1e-3;
  case NMR::MODELUNIT_MILLIMETER:
    return 1.0;
  case NMR::MODELUNIT_CENTIMETER:
    return 10.0;
  case NMR::MODELUNIT_INCH:
    return 25.4;
  case NMR::MODELUNIT_FOOT:
    return 304.8;
  case NMR::MODELUNIT_METER:
    return 1000.0;
  }
  return 1.0;
}

void read_mesh(NMR::PLib3MFModelObjectResource *object, const NMR::MODELTRANSFORM &t, double scale,
               const std::filesystem::path &path,
               std::vector<std::pair<std::string, TriangleMesh>> &out)
{
  DWORD nv = 0, nt = 0;
  check(NMR::lib3mf_meshobject_getvertexcount(object, &nv), "reading a vertex count", path);
  check(NMR::lib3mf_meshobject_gettrianglecount(object, &nt), "reading a triangle count", path);
  std::vector<NMR::MODELMESHVERTEX> vertices(nv);
  std::vector<NMR::MODELMESHTRIANGLE> triangles(nt);
  if (nv > 0)
    check(NMR::lib3mf_meshobject_getvertices(object, vertices.data(), nv, nullptr),
          "reading vertices", path);
  if (nt > 0)
    check(NMR::lib3mf_meshobject_gettriangleindices(object, triangles.data(), nt, nullptr),
          "reading triangles", path);
  TriangleMesh mesh;
  mesh.vertices.reserve(nv);
  for (const auto &v : vertices) {
    std::array<double, 3> p;
    for (int r = 0; r < 3; ++r) {
      double x = t.m_fFields[r][3];
      for (int k = 0; k < 3; ++k) x += static_cast<double>(t.m_fFields[r][k]) * v.m_fPosition[k];
      p[r] = x * scale;
    }
    mesh.vertices.push_back(p);
  }
  mesh.triangles.reserve(nt);
  for (const auto &tri : triangles) {
    for (DWORD index : tri.m_nIndices)
      if (index >= nv)
        throw std::runtime_error(path.string() + ": a 3MF triangle refers to a missing vertex");
    mesh.triangles.push_back({tri.m_nIndices[0], tri.m_nIndices[1], tri.m_nIndices[2]});
  }
  out.emplace_back(object_name(object), std::move(mesh));
}

}    // namespace

void write_3mf(const std::filesystem::path &path, const std::string &part,
               const std::vector<std::pair<std::string, const TriangleMesh *>> &bodies)
{
  Handle model;
  check(NMR::lib3mf_createmodel(reinterpret_cast<NMR::PLib3MFModel **>(model.out())),
        "creating a model", path);
  check(NMR::lib3mf_model_setunit(model.pointer, NMR::MODELUNIT_MILLIMETER), "setting the unit",
        path);
  std::vector<Handle> meshes(bodies.size());
  for (std::size_t b = 0; b < bodies.size(); ++b) {
    const TriangleMesh &mesh = *bodies[b].second;
    check(NMR::lib3mf_model_addmeshobject(
              model.pointer, reinterpret_cast<NMR::PLib3MFModelMeshObject **>(meshes[b].out())),
          "adding a mesh", path);
    check(NMR::lib3mf_object_setnameutf8(meshes[b].pointer, bodies[b].first.c_str()),
          "naming a mesh", path);
    std::vector<NMR::MODELMESHVERTEX> vertices(mesh.vertices.size());
    for (std::size_t i = 0; i < mesh.vertices.size(); ++i)
      for (int a = 0; a < 3; ++a)
        vertices[i].m_fPosition[a] = static_cast<float>(mesh.vertices[i][a]);
    std::vector<NMR::MODELMESHTRIANGLE> triangles(mesh.triangles.size());
    for (std::size_t i = 0; i < mesh.triangles.size(); ++i)
      for (int k = 0; k < 3; ++k) triangles[i].m_nIndices[k] = mesh.triangles[i][k];
    check(NMR::lib3mf_meshobject_setgeometry(meshes[b].pointer, vertices.data(),
                                             static_cast<DWORD>(vertices.size()), triangles.data(),
                                             static_cast<DWORD>(triangles.size())),
          "storing a mesh", path);
  }
  Handle item;
  if (bodies.size() == 1) {
    check(
        NMR::lib3mf_model_addbuilditem(model.pointer, meshes[0].pointer, nullptr,
                                       reinterpret_cast<NMR::PLib3MFModelBuildItem **>(item.out())),
        "adding a build item", path);
  } else {
    Handle assembly;
    check(
        NMR::lib3mf_model_addcomponentsobject(
            model.pointer, reinterpret_cast<NMR::PLib3MFModelComponentsObject **>(assembly.out())),
        "adding the part", path);
    check(NMR::lib3mf_object_setnameutf8(assembly.pointer, part.c_str()), "naming the part", path);
    for (auto &mesh : meshes) {
      Handle component;
      check(NMR::lib3mf_componentsobject_addcomponent(
                assembly.pointer, mesh.pointer, nullptr,
                reinterpret_cast<NMR::PLib3MFModelComponent **>(component.out())),
            "adding a component", path);
    }
    check(
        NMR::lib3mf_model_addbuilditem(model.pointer, assembly.pointer, nullptr,
                                       reinterpret_cast<NMR::PLib3MFModelBuildItem **>(item.out())),
        "adding a build item", path);
  }
  Handle writer;
  check(NMR::lib3mf_model_querywriter(model.pointer, "3mf",
                                      reinterpret_cast<NMR::PLib3MFModelWriter **>(writer.out())),
        "creating a writer", path);
  std::error_code ignored;
  std::filesystem::remove(path, ignored);    // lib3mf does not truncate an existing file
  check(NMR::lib3mf_writer_writetofileutf8(writer.pointer, path.c_str()), "writing", path);
}

std::vector<std::pair<std::string, TriangleMesh>> read_3mf(const std::filesystem::path &path)
{
  Handle model;
  check(NMR::lib3mf_createmodel(reinterpret_cast<NMR::PLib3MFModel **>(model.out())),
        "creating a model", path);
  Handle reader;
  check(NMR::lib3mf_model_queryreader(model.pointer, "3mf",
                                      reinterpret_cast<NMR::PLib3MFModelReader **>(reader.out())),
        "creating a reader", path);
  check(NMR::lib3mf_reader_readfromfileutf8(reader.pointer, path.c_str()), "reading", path);
  DWORD unit = NMR::MODELUNIT_MILLIMETER;
  NMR::lib3mf_model_getunit(model.pointer, &unit);
  const double scale = unit_in_mm(unit);

  std::vector<std::pair<std::string, TriangleMesh>> out;
  Handle items;
  check(NMR::lib3mf_model_getbuilditems(
            model.pointer, reinterpret_cast<NMR::PLib3MFModelBuildItemIterator **>(items.out())),
        "listing build items", path);
  BOOL more = false;
  check(NMR::lib3mf_builditemiterator_movenext(items.pointer, &more), "listing build items", path);
  while (more) {
    Handle item, object;
    check(NMR::lib3mf_builditemiterator_getcurrent(
              items.pointer, reinterpret_cast<NMR::PLib3MFModelBuildItem **>(item.out())),
          "reading a build item", path);
    check(NMR::lib3mf_builditem_getobjectresource(
              item.pointer, reinterpret_cast<NMR::PLib3MFModelObjectResource **>(object.out())),
          "reading a build item", path);
    NMR::MODELTRANSFORM placed = identity();
    BOOL has = false;
    if (NMR::lib3mf_builditem_hasobjecttransform(item.pointer, &has) == LIB3MF_OK && has)
      check(NMR::lib3mf_builditem_getobjecttransform(item.pointer, &placed), "reading a transform",
            path);
    BOOL is_mesh = false, is_components = false;
    NMR::lib3mf_object_ismeshobject(object.pointer, &is_mesh);
    NMR::lib3mf_object_iscomponentsobject(object.pointer, &is_components);
    if (is_mesh) {
      read_mesh(object.pointer, placed, scale, path, out);
    } else if (is_components) {
      DWORD count = 0;
      check(NMR::lib3mf_componentsobject_getcomponentcount(object.pointer, &count),
            "reading components", path);
      for (DWORD c = 0; c < count; ++c) {
        Handle component, part;
        check(NMR::lib3mf_componentsobject_getcomponent(
                  object.pointer, c,
                  reinterpret_cast<NMR::PLib3MFModelComponent **>(component.out())),
              "reading a component", path);
        check(NMR::lib3mf_component_getobjectresource(
                  component.pointer,
                  reinterpret_cast<NMR::PLib3MFModelObjectResource **>(part.out())),
              "reading a component", path);
        NMR::MODELTRANSFORM local = identity();
        BOOL has_local = false;
        if (NMR::lib3mf_component_hastransform(component.pointer, &has_local) == LIB3MF_OK &&
            has_local)
          check(NMR::lib3mf_component_gettransform(component.pointer, &local),
                "reading a transform", path);
        BOOL part_is_mesh = false;
        NMR::lib3mf_object_ismeshobject(part.pointer, &part_is_mesh);
        if (part_is_mesh) read_mesh(part.pointer, compose(placed, local), scale, path, out);
      }
    }
    check(NMR::lib3mf_builditemiterator_movenext(items.pointer, &more), "listing build items",
          path);
  }
  return out;
}

}    // namespace cephalo::meshing::detail
