//! The intermediate model: a resource schema turned into structs, fields and Rust types.
//!
//! Building it takes two walks over the schema from the resource's properties. The first records
//! every property path (`/A/B/*/C`) at which each object schema is used, so that a nested
//! read-only property is left out of a shared definition only when it is read-only wherever the
//! definition is used. The second builds one struct per object schema, depth first, turning a
//! reference back to a struct still being built (a `$ref` cycle) into `serde_json::Value`.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToUpperCamelCase;
use serde_json::{Map, Value as Json};

use crate::Error;
use crate::naming::{camel_ident, snake_ident};
use crate::schema::SchemaFile;

/// Names a generated struct may not take: the resource struct's and the ones generated code uses.
const RESERVED: &[&str] = &[
    "Value", "Option", "Result", "Box", "Vec", "String", "Self", "Some", "None", "Into", "Default",
];

/// Keywords that only constrain values (or document them) inside `anyOf`/`oneOf`/`allOf`; a branch
/// using anything else describes a different shape.
const CONSTRAINT_KEYWORDS: &[&str] = &[
    "required",
    "relationshipRef",
    "format",
    "description",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "enum",
    "const",
    "not",
    "dependentRequired",
    "dependentExcluded",
    "$comment",
];

/// A property's type, without the `crate::Value` wrapper a field puts around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    /// Anything the schema does not pin to one shape; intrinsics fit in it as they are.
    Json,
    Struct(String),
    List(Box<Ty>),
    Map(Box<Ty>),
}

impl Ty {
    /// The type of a field holding this: `crate::Value<i64>`, or `serde_json::Value` for JSON.
    pub fn field_type(&self) -> String {
        match self {
            Ty::Json => "serde_json::Value".to_owned(),
            other => format!("crate::Value<{}>", other.inner()),
        }
    }

    fn inner(&self) -> String {
        match self {
            Ty::String => "String".to_owned(),
            Ty::Integer => "i64".to_owned(),
            Ty::Number => "f64".to_owned(),
            Ty::Boolean => "bool".to_owned(),
            Ty::Json => "serde_json::Value".to_owned(),
            Ty::Struct(name) => name.clone(),
            Ty::List(item) => format!("Vec<{}>", item.field_type()),
            Ty::Map(value) => format!("std::collections::BTreeMap<String, {}>", value.field_type()),
        }
    }
}

/// One generated struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property name in the schema and the template: `ShardCount`.
    pub name: String,
    /// `shard_count`, `r#type`.
    pub ident: String,
    pub ty: Ty,
    pub required: bool,
    /// Description and allowed values, as written in the schema (Markdown-ish).
    pub doc: String,
}

/// One generated struct.
#[derive(Debug, Clone, PartialEq)]
pub struct StructDef {
    pub name: String,
    pub doc: String,
    pub fields: Vec<Field>,
}

/// The schema facts that end up in the generated `SPEC`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    /// Settable top-level properties: (name, required, create-only).
    pub properties: Vec<(String, bool, bool)>,
    /// `Arn`, `Endpoint.Address`.
    pub attributes: Vec<String>,
    /// JSON pointers below `Properties`: `/Name`.
    pub create_only: Vec<String>,
    pub conditional_create_only: Vec<String>,
    pub write_only: Vec<String>,
    pub primary_identifier: Vec<String>,
}

/// One resource type, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `AWS::KinesisFirehose::DeliveryStream`.
    pub type_name: String,
    /// `kinesisfirehose`.
    pub service_module: String,
    /// `delivery_stream`.
    pub module: String,
    /// `DeliveryStream`.
    pub name: String,
    /// The schema file name: `aws-kinesisfirehose-deliverystream.json`.
    pub file: String,
    /// The patch file name, if one was applied.
    pub patch: Option<String>,
    /// The resource struct first, then the others sorted by name.
    pub structs: Vec<StructDef>,
    pub spec: Spec,
}

impl Resource {
    /// The struct named `name`.
    pub fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }
}

/// Builds the model of one schema.
pub fn build(schema: &SchemaFile) -> Result<Resource, Error> {
    let file = schema.file.as_str();
    let root = &schema.doc;
    let type_name = root
        .get("typeName")
        .and_then(Json::as_str)
        .ok_or_else(|| shape(file, "/typeName", "a string"))?;
    let (service, resource) = match type_name.split("::").collect::<Vec<_>>()[..] {
        [_, service, resource] if !service.is_empty() && !resource.is_empty() => {
            (service, resource)
        }
        _ => {
            return Err(Error::TypeName {
                file: file.to_owned(),
                type_name: type_name.to_owned(),
            });
        }
    };
    let name = camel_ident(resource);
    let mut builder = Builder {
        file,
        root,
        resource_name: name.clone(),
        read_only: pointer_list(root, file, "readOnlyProperties")?
            .into_iter()
            .collect(),
        paths: BTreeMap::new(),
        names: BTreeMap::new(),
        built: BTreeMap::new(),
        in_progress: BTreeSet::new(),
    };
    object_at(root, file, "/properties")?;
    builder.collect(ROOT, String::new(), &mut Vec::new())?;
    builder.assign_names();
    builder.build_struct(ROOT)?;

    let spec = builder.spec()?;
    let mut structs: Vec<StructDef> = std::mem::take(&mut builder.built).into_values().collect();
    structs.sort_by(|a, b| (a.name != name, &a.name).cmp(&(b.name != name, &b.name)));
    Ok(Resource {
        type_name: type_name.to_owned(),
        service_module: snake_ident(&service.to_lowercase()),
        module: snake_ident(resource),
        name,
        file: file.to_owned(),
        patch: schema.patch.clone(),
        structs,
        spec,
    })
}

/// The location of the resource's own object schema: the document root.
const ROOT: &str = "";

/// What a schema location holds, after following `$ref`s.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Prim(Ty),
    /// An object with `properties`, at this location.
    Struct(String),
    /// An array; the location of its item schema, if it has one.
    List(Option<String>),
    /// A map; the location of its value schema, if it has exactly one.
    Map(Option<String>),
    Json,
}

struct Builder<'a> {
    file: &'a str,
    root: &'a Json,
    resource_name: String,
    /// `readOnlyProperties` without the `/properties` prefix: `/Arn`, `/Endpoint/Address`.
    read_only: BTreeSet<String>,
    /// Struct location → the property paths it is used at.
    paths: BTreeMap<String, Vec<String>>,
    /// Struct location → struct name.
    names: BTreeMap<String, String>,
    /// Struct location → struct, once built.
    built: BTreeMap<String, StructDef>,
    in_progress: BTreeSet<String>,
}

impl Builder<'_> {
    fn node(&self, loc: &str) -> Result<&Json, Error> {
        self.root
            .pointer(loc)
            .ok_or_else(|| shape(self.file, loc, "a schema"))
    }

    /// What `loc` holds, following `$ref`s; a chain of them that loops is JSON.
    fn classify(&self, loc: &str) -> Result<Kind, Error> {
        let mut loc = loc.to_owned();
        let mut seen = BTreeSet::new();
        loop {
            let Some(obj) = self.node(&loc)?.as_object() else {
                return Ok(Kind::Json);
            };
            let Some(reference) = obj.get("$ref") else {
                return self.classify_object(&loc, obj);
            };
            let target = self.ref_target(reference, &loc)?;
            if !seen.insert(target.clone()) {
                return Ok(Kind::Json);
            }
            loc = target;
        }
    }

    fn ref_target(&self, reference: &Json, loc: &str) -> Result<String, Error> {
        let reference = reference
            .as_str()
            .ok_or_else(|| shape(self.file, &child(loc, "$ref"), "a string"))?;
        match reference.strip_prefix('#') {
            Some(target) if self.root.pointer(target).is_some() => Ok(target.to_owned()),
            _ => Err(Error::UnresolvableRef {
                file: self.file.to_owned(),
                reference: reference.to_owned(),
                pointer: loc.to_owned(),
            }),
        }
    }

    fn classify_object(&self, loc: &str, obj: &Map<String, Json>) -> Result<Kind, Error> {
        if has_shape_branches(obj) {
            return Ok(Kind::Json);
        }
        let ty = match obj.get("type") {
            Some(Json::String(ty)) => ty.as_str(),
            Some(Json::Array(types)) => match &types[..] {
                [Json::String(ty)] => ty.as_str(),
                _ => return Ok(Kind::Json),
            },
            Some(_) => return Err(shape(self.file, &child(loc, "type"), "a type name")),
            None if obj.contains_key("properties") || obj.contains_key("patternProperties") => {
                "object"
            }
            None if obj.contains_key("items") => "array",
            None => match obj.get("enum").and_then(Json::as_array) {
                Some(values) if values.iter().all(Json::is_string) => "string",
                _ => return Ok(Kind::Json),
            },
        };
        Ok(match ty {
            "string" => Kind::Prim(Ty::String),
            "integer" => Kind::Prim(Ty::Integer),
            "number" => Kind::Prim(Ty::Number),
            "boolean" => Kind::Prim(Ty::Boolean),
            "array" => match obj.get("items") {
                Some(Json::Object(_)) => Kind::List(Some(child(loc, "items"))),
                _ => Kind::List(None),
            },
            "object" => {
                if obj.get("properties").is_some_and(Json::is_object) {
                    Kind::Struct(loc.to_owned())
                } else if let Some(patterns) =
                    obj.get("patternProperties").and_then(Json::as_object)
                {
                    match patterns.keys().collect::<Vec<_>>()[..] {
                        [pattern] => {
                            Kind::Map(Some(child(&child(loc, "patternProperties"), pattern)))
                        }
                        _ => Kind::Map(None),
                    }
                } else if obj.get("additionalProperties").is_some_and(Json::is_object) {
                    Kind::Map(Some(child(loc, "additionalProperties")))
                } else {
                    Kind::Json
                }
            }
            _ => Kind::Json,
        })
    }

    /// The sorted property names of the struct at `loc`, and its `required` list.
    fn properties(&self, loc: &str) -> Result<(Vec<String>, BTreeSet<String>), Error> {
        let props_loc = child(loc, "properties");
        let props = object_at(self.root, self.file, &props_loc)?;
        let mut names: Vec<String> = props.keys().cloned().collect();
        names.sort();
        let required = match self.node(loc)?.get("required") {
            None => BTreeSet::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| shape(self.file, &child(loc, "required"), "property names"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(shape(self.file, &child(loc, "required"), "an array")),
        };
        Ok((names, required))
    }

    /// First walk: the property paths each struct location is used at.
    fn collect(&mut self, loc: &str, path: String, stack: &mut Vec<String>) -> Result<(), Error> {
        let kind = if loc == ROOT {
            Kind::Struct(ROOT.to_owned())
        } else {
            self.classify(loc)?
        };
        match kind {
            Kind::Struct(struct_loc) => {
                if stack.contains(&struct_loc) {
                    return Ok(());
                }
                self.paths
                    .entry(struct_loc.clone())
                    .or_default()
                    .push(path.clone());
                let (names, _) = self.properties(&struct_loc)?;
                stack.push(struct_loc.clone());
                for name in names {
                    let prop_path = child(&path, &name);
                    if !self.read_only.contains(&prop_path) {
                        let prop_loc = child(&child(&struct_loc, "properties"), &name);
                        self.collect(&prop_loc, prop_path, stack)?;
                    }
                }
                stack.pop();
            }
            Kind::List(Some(inner)) | Kind::Map(Some(inner)) => {
                self.collect(&inner, child(&path, "*"), stack)?;
            }
            Kind::List(None) | Kind::Map(None) | Kind::Prim(_) | Kind::Json => {}
        }
        Ok(())
    }

    /// Names every struct location found by [`Builder::collect`]: the resource first, then the
    /// definitions by location, then the inline objects by location.
    fn assign_names(&mut self) {
        let mut locs: Vec<&String> = self.paths.keys().collect();
        locs.sort_by_key(|loc| (!loc.is_empty(), !is_definition(loc), loc.as_str()));
        let mut used = BTreeSet::new();
        for loc in locs {
            let base = if loc.is_empty() {
                self.resource_name.clone()
            } else {
                camel_ident(&self.base_name(loc))
            };
            let taken = |name: &str| {
                used.contains(name)
                    || (!loc.is_empty() && (name == self.resource_name || RESERVED.contains(&name)))
            };
            let mut name = base.clone();
            let mut n = 1;
            while taken(&name) {
                name = if n == 1 {
                    format!("{base}Property")
                } else {
                    format!("{base}Property{n}")
                };
                n += 1;
            }
            used.insert(name.clone());
            self.names.insert(loc.clone(), name);
        }
    }

    /// `/definitions/Foo/properties/Bar/items` → `FooBar`; `/properties/Baz` → `<Resource>Baz`.
    fn base_name(&self, loc: &str) -> String {
        let segments: Vec<String> = loc.split('/').skip(1).map(unescape).collect();
        let (mut name, mut rest) = match &segments[..] {
            [first, def, rest @ ..] if first == "definitions" => (def.to_upper_camel_case(), rest),
            rest => (self.resource_name.clone(), rest),
        };
        // `items`, `additionalProperties` and `patternProperties/<pattern>` add nothing.
        while let [first, tail @ ..] = rest {
            rest = match (first.as_str(), tail) {
                ("properties" | "patternProperties", [key, tail @ ..]) => {
                    if first == "properties" {
                        name.push_str(&key.to_upper_camel_case());
                    }
                    tail
                }
                _ => tail,
            };
        }
        name
    }

    /// Second walk: builds the struct at `loc` (once) and the structs its fields use.
    fn build_struct(&mut self, loc: &str) -> Result<(), Error> {
        if self.built.contains_key(loc) || !self.in_progress.insert(loc.to_owned()) {
            return Ok(());
        }
        let name = self.struct_name(loc)?;
        let paths = self.paths.get(loc).cloned().unwrap_or_default();
        let (names, required) = self.properties(loc)?;
        let mut fields: Vec<Field> = Vec::new();
        for prop in names {
            let read_only_everywhere = !paths.is_empty()
                && paths
                    .iter()
                    .all(|path| self.read_only.contains(&child(path, &prop)));
            if read_only_everywhere {
                continue;
            }
            let prop_loc = child(&child(loc, "properties"), &prop);
            let ident = snake_ident(&prop);
            if let Some(clash) = fields.iter().find(|f| f.ident == ident) {
                return Err(Error::FieldClash {
                    file: self.file.to_owned(),
                    pointer: child(loc, "properties"),
                    first: clash.name.clone(),
                    second: prop,
                    field: ident,
                });
            }
            fields.push(Field {
                ty: self.ty(&prop_loc)?,
                required: required.contains(&prop),
                doc: self.field_doc(&prop_loc)?,
                name: prop,
                ident,
            });
        }
        let doc = if loc == ROOT {
            description(self.root)
        } else {
            description(self.node(loc)?)
        };
        self.in_progress.remove(loc);
        self.built
            .insert(loc.to_owned(), StructDef { name, doc, fields });
        Ok(())
    }

    fn struct_name(&self, loc: &str) -> Result<String, Error> {
        self.names
            .get(loc)
            .cloned()
            .ok_or_else(|| shape(self.file, loc, "an object reachable from the properties"))
    }

    fn ty(&mut self, loc: &str) -> Result<Ty, Error> {
        Ok(match self.classify(loc)? {
            Kind::Prim(ty) => ty,
            Kind::Json => Ty::Json,
            Kind::Struct(struct_loc) => {
                if self.in_progress.contains(&struct_loc) {
                    Ty::Json
                } else {
                    self.build_struct(&struct_loc)?;
                    Ty::Struct(self.struct_name(&struct_loc)?)
                }
            }
            Kind::List(inner) => Ty::List(Box::new(self.inner_ty(inner.as_deref())?)),
            Kind::Map(inner) => Ty::Map(Box::new(self.inner_ty(inner.as_deref())?)),
        })
    }

    fn inner_ty(&mut self, loc: Option<&str>) -> Result<Ty, Error> {
        match loc {
            Some(loc) => self.ty(loc),
            None => Ok(Ty::Json),
        }
    }

    /// The property's description (or the one of what it refers to), then its allowed values.
    fn field_doc(&self, loc: &str) -> Result<String, Error> {
        let chain = self.ref_chain(loc)?;
        let mut doc = chain
            .iter()
            .map(|node| description(node))
            .find(|d| !d.is_empty())
            .unwrap_or_default();
        let (values, of_items) = match allowed_values(&chain) {
            Some(values) => (Some(values), false),
            None => match self.classify(loc)? {
                Kind::List(Some(items)) => (allowed_values(&self.ref_chain(&items)?), true),
                _ => (None, false),
            },
        };
        if let Some(values) = values {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str(if of_items {
                "Allowed values of each item: "
            } else {
                "Allowed values: "
            });
            doc.push_str(&values.join(" | "));
        }
        Ok(doc)
    }

    /// The node at `loc` and the nodes its `$ref`s lead to, in order.
    fn ref_chain(&self, loc: &str) -> Result<Vec<&Json>, Error> {
        let mut chain = Vec::new();
        let mut loc = loc.to_owned();
        let mut seen = BTreeSet::new();
        loop {
            let node = self.node(&loc)?;
            chain.push(node);
            match node.get("$ref") {
                Some(reference) => {
                    loc = self.ref_target(reference, &loc)?;
                    if !seen.insert(loc.clone()) {
                        return Ok(chain);
                    }
                }
                None => return Ok(chain),
            }
        }
    }

    fn spec(&self) -> Result<Spec, Error> {
        let create_only = pointer_list(self.root, self.file, "createOnlyProperties")?;
        let (names, required) = self.properties(ROOT)?;
        let properties = names
            .into_iter()
            .filter(|name| !self.read_only.contains(&child("", name)))
            .map(|name| {
                let pointer = child("", &name);
                (
                    name.clone(),
                    required.contains(&name),
                    create_only.contains(&pointer),
                )
            })
            .collect();
        let attributes = pointer_list(self.root, self.file, "readOnlyProperties")?
            .iter()
            .map(|pointer| {
                pointer
                    .split('/')
                    .skip(1)
                    .map(unescape)
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        Ok(Spec {
            properties,
            attributes,
            create_only,
            conditional_create_only: pointer_list(
                self.root,
                self.file,
                "conditionalCreateOnlyProperties",
            )?,
            write_only: pointer_list(self.root, self.file, "writeOnlyProperties")?,
            primary_identifier: pointer_list(self.root, self.file, "primaryIdentifier")?,
        })
    }
}

/// `enum`/`const` values of the first node in the chain that has them, as code spans.
fn allowed_values(chain: &[&Json]) -> Option<Vec<String>> {
    let values = chain.iter().find_map(|node| {
        node.get("enum")
            .and_then(Json::as_array)
            .cloned()
            .or_else(|| node.get("const").map(|c| vec![c.clone()]))
    })?;
    Some(
        values
            .iter()
            .map(|v| match v {
                Json::String(s) => format!("`{s}`"),
                other => format!("`{other}`"),
            })
            .collect(),
    )
}

/// Whether `anyOf`/`oneOf`/`allOf` offer alternative shapes rather than mere constraints.
fn has_shape_branches(obj: &Map<String, Json>) -> bool {
    ["anyOf", "oneOf", "allOf"].iter().any(|keyword| {
        obj.get(*keyword)
            .and_then(Json::as_array)
            .is_some_and(|branches| {
                branches.iter().any(|branch| {
                    branch.as_object().is_none_or(|branch| {
                        branch
                            .keys()
                            .any(|key| !CONSTRAINT_KEYWORDS.contains(&key.as_str()))
                    })
                })
            })
    })
}

fn description(node: &Json) -> String {
    node.get("description")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A list of `/properties/...` pointers at the top of the schema, with that prefix removed.
fn pointer_list(root: &Json, file: &str, key: &str) -> Result<Vec<String>, Error> {
    let Some(list) = root.get(key) else {
        return Ok(Vec::new());
    };
    let items = list
        .as_array()
        .ok_or_else(|| shape(file, &child("", key), "an array of JSON pointers"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .and_then(|p| p.strip_prefix("/properties"))
                .filter(|p| p.starts_with('/'))
                .map(str::to_owned)
                .ok_or_else(|| {
                    shape(
                        file,
                        &child(&child("", key), &i.to_string()),
                        "a pointer below /properties",
                    )
                })
        })
        .collect()
}

fn object_at<'a>(root: &'a Json, file: &str, loc: &str) -> Result<&'a Map<String, Json>, Error> {
    root.pointer(loc)
        .and_then(Json::as_object)
        .ok_or_else(|| shape(file, loc, "an object"))
}

fn is_definition(loc: &str) -> bool {
    loc.strip_prefix("/definitions/")
        .is_some_and(|rest| !rest.contains('/'))
}

/// `loc` extended by one JSON pointer segment.
fn child(loc: &str, segment: &str) -> String {
    format!("{loc}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn shape(file: &str, pointer: &str, expected: &'static str) -> Error {
    Error::Shape {
        file: file.to_owned(),
        pointer: pointer.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn widget() -> Result<Resource, Error> {
        let doc = serde_json::from_str(include_str!("../tests/fixtures/aws-test-widget.json"))
            .map_err(|source| Error::Json {
                file: "aws-test-widget.json".to_owned(),
                source,
            })?;
        build(&SchemaFile {
            file: "aws-test-widget.json".to_owned(),
            patch: None,
            doc,
        })
    }

    fn from_json(doc: Json) -> Result<Resource, Error> {
        build(&SchemaFile {
            file: "aws-test-inline.json".to_owned(),
            patch: None,
            doc,
        })
    }

    /// The field for `property` in the struct `struct_name`.
    fn field<'a>(resource: &'a Resource, struct_name: &str, property: &str) -> Option<&'a Field> {
        resource
            .struct_def(struct_name)?
            .fields
            .iter()
            .find(|f| f.name == property)
    }

    /// The declared type of that field, `Option` included.
    fn field_type(resource: &Resource, struct_name: &str, property: &str) -> String {
        field(resource, struct_name, property).map_or_else(
            || format!("no field {struct_name}.{property}"),
            |f| {
                if f.required {
                    f.ty.field_type()
                } else {
                    format!("Option<{}>", f.ty.field_type())
                }
            },
        )
    }

    #[test]
    fn names_and_modules() -> Result<(), Error> {
        let widget = widget()?;
        assert_eq!(widget.name, "Widget");
        assert_eq!(widget.service_module, "test");
        assert_eq!(widget.module, "widget");
        assert_eq!(
            widget.structs.first().map(|s| s.name.as_str()),
            Some("Widget")
        );
        Ok(())
    }

    #[test]
    fn required_and_optional_primitives() -> Result<(), Error> {
        let w = widget()?;
        assert_eq!(field_type(&w, "Widget", "Name"), "crate::Value<String>");
        assert_eq!(
            field_type(&w, "Widget", "Count"),
            "Option<crate::Value<i64>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Ratio"),
            "Option<crate::Value<f64>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Enabled"),
            "Option<crate::Value<bool>>"
        );
        assert_eq!(
            field(&w, "Widget", "Name").map(|f| f.doc.as_str()),
            Some("The name.")
        );
        Ok(())
    }

    #[test]
    fn primitive_ref_keeps_the_primitive_and_documents_the_enum() -> Result<(), Error> {
        let w = widget()?;
        let kind = field(&w, "Widget", "Type");
        assert_eq!(kind.map(|f| f.ident.as_str()), Some("r#type"));
        assert_eq!(
            kind.map(|f| f.ty.field_type()).as_deref(),
            Some("crate::Value<String>")
        );
        assert_eq!(
            kind.map(|f| f.doc.as_str()),
            Some("Allowed values: `SMALL` | `LARGE`")
        );
        assert!(w.struct_def("Kind").is_none());
        Ok(())
    }

    #[test]
    fn maps_arrays_and_inline_objects() -> Result<(), Error> {
        let w = widget()?;
        assert_eq!(
            field_type(&w, "Widget", "Labels"),
            "Option<crate::Value<std::collections::BTreeMap<String, crate::Value<String>>>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Limits"),
            "Option<crate::Value<std::collections::BTreeMap<String, crate::Value<i64>>>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Parts"),
            "Option<crate::Value<Vec<crate::Value<Part>>>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Slots"),
            "Option<crate::Value<Vec<crate::Value<WidgetSlots>>>>"
        );
        assert_eq!(field_type(&w, "WidgetSlots", "Size"), "crate::Value<i64>");
        assert_eq!(field_type(&w, "Part", "Id"), "crate::Value<String>");
        Ok(())
    }

    #[test]
    fn unpinned_shapes_are_json() -> Result<(), Error> {
        let w = widget()?;
        assert_eq!(
            field_type(&w, "Widget", "Policy"),
            "Option<serde_json::Value>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Anything"),
            "Option<serde_json::Value>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Either"),
            "Option<serde_json::Value>"
        );
        // relationshipRef branches only constrain: the `type` wins.
        assert_eq!(
            field_type(&w, "Widget", "KeyId"),
            "Option<crate::Value<String>>"
        );
        // A `$ref` cycle.
        assert_eq!(field_type(&w, "Node", "Child"), "Option<serde_json::Value>");
        assert_eq!(
            field_type(&w, "Widget", "Node"),
            "Option<crate::Value<Node>>"
        );
        Ok(())
    }

    #[test]
    fn name_collisions_get_a_suffix() -> Result<(), Error> {
        let w = widget()?;
        let self_field = field(&w, "Widget", "Self");
        assert_eq!(self_field.map(|f| f.ident.as_str()), Some("self_"));
        assert_eq!(
            field_type(&w, "Widget", "Self"),
            "Option<crate::Value<WidgetProperty>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Val"),
            "Option<crate::Value<ValueProperty>>"
        );
        // The inline `Config` would be `WidgetConfig`, which the definition of that name has.
        assert_eq!(
            field_type(&w, "Widget", "Extra"),
            "Option<crate::Value<WidgetConfig>>"
        );
        assert_eq!(
            field_type(&w, "Widget", "Config"),
            "Option<crate::Value<WidgetConfigProperty>>"
        );
        Ok(())
    }

    #[test]
    fn read_only_properties_are_attributes_not_fields() -> Result<(), Error> {
        let w = widget()?;
        assert!(field(&w, "Widget", "Arn").is_none());
        assert_eq!(
            w.spec.attributes,
            ["Arn", "Endpoint.Address", "Status.Since"]
        );
        // Read-only wherever `Status` is used: left out.
        assert!(field(&w, "Status", "Since").is_none());
        assert!(field(&w, "Status", "State").is_some());
        // `Endpoint` is also used by `Backup`, where `Address` can be set.
        assert!(field(&w, "Endpoint", "Address").is_some());
        assert!(!w.spec.properties.iter().any(|(name, ..)| name == "Arn"));
        Ok(())
    }

    #[test]
    fn spec_pointers_lose_the_properties_prefix() -> Result<(), Error> {
        let w = widget()?;
        assert!(w.spec.properties.contains(&("Name".to_owned(), true, true)));
        assert!(
            w.spec
                .properties
                .contains(&("Count".to_owned(), false, false))
        );
        assert_eq!(w.spec.create_only, ["/Name"]);
        assert_eq!(w.spec.write_only, ["/Policy"]);
        assert_eq!(w.spec.primary_identifier, ["/Name"]);
        assert!(w.spec.conditional_create_only.is_empty());
        Ok(())
    }

    #[test]
    fn unresolvable_ref_names_file_and_pointer() {
        let result = from_json(json!({
            "typeName": "AWS::Test::Thing",
            "properties": {"Bar": {"$ref": "#/definitions/Foo"}}
        }));
        assert!(matches!(
            result,
            Err(Error::UnresolvableRef { ref file, ref reference, ref pointer })
                if file == "aws-test-inline.json"
                    && reference == "#/definitions/Foo"
                    && pointer == "/properties/Bar"
        ));
    }

    #[test]
    fn clashing_field_names_are_an_error() {
        let result = from_json(json!({
            "typeName": "AWS::Test::Thing",
            "properties": {"S3Mode": {"type": "string"}, "s3Mode": {"type": "string"}}
        }));
        assert!(matches!(result, Err(Error::FieldClash { ref field, .. }) if field == "s3_mode"));
    }

    #[test]
    fn malformed_type_name_is_an_error() {
        let result = from_json(json!({"typeName": "Thing", "properties": {}}));
        assert!(matches!(result, Err(Error::TypeName { .. })));
    }
}
