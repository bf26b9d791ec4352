//! What the domain reader asks of a roxmltree node: libvirt's elements by name, attributes, text.
//!
//! libvirt's own elements are in no namespace; an element of the same name in another namespace
//! (inside `<metadata>`, say) is not libvirt's and is never taken for it.

use roxmltree::Node;

/// Whether `node` is libvirt's element `name` (in no namespace).
pub(super) fn is_element(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace().is_none() && node.tag_name().name() == name
}

/// The first child of `node` that is libvirt's element `name`.
pub(super) fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|c| is_element(*c, name))
}

/// Every child of `node` that is libvirt's element `name`, in document order.
pub(super) fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |c| is_element(*c, name))
}

/// The attribute `name` (in no namespace) of `node`, unless it is absent or empty: libvirt
/// reads an empty attribute as no value.
pub(super) fn attribute<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name).filter(|value| !value.is_empty())
}

/// The text of `node` (its text and CDATA children, put together) without the white space
/// around it; `None` when that leaves nothing.
pub(super) fn text(node: Node<'_, '_>) -> Option<String> {
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// How an element's name reads in a message: `<name>`, `<prefix:name>` for an element in a
/// namespace with a prefix, else `<name>` and its namespace.
pub(super) fn tag(node: Node<'_, '_>) -> String {
    let name = node.tag_name();
    match name.namespace() {
        None => format!("<{}>", name.name()),
        Some(namespace) => match node.lookup_prefix(namespace) {
            Some(prefix) if !prefix.is_empty() => format!("<{prefix}:{}>", name.name()),
            _ => format!("<{}> (in {namespace})", name.name()),
        },
    }
}
