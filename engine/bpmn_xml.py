"""Reading BPMN XML safely, and the BPMN facts read straight from the XML."""

from __future__ import annotations

from lxml import etree

_SAFE_XML = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(content: bytes) -> etree._Element:
    """Parse XML safely: no external entities, no network, no DTD loading, bounded size.

    Raises `etree.XMLSyntaxError` (with `.lineno`) on malformed input.
    """
    parser = etree.XMLParser(**_SAFE_XML)
    root = etree.fromstring(content, parser)
    if root is None:
        raise etree.XMLSyntaxError("empty document", None, 1, 0)
    for node in root.iter(etree.Entity):  # refuse documents that carry entity references
        raise etree.XMLSyntaxError("entity references are not allowed", None, node.sourceline, 0)
    if root.getroottree().docinfo.internalDTD is not None:
        raise etree.XMLSyntaxError("a DOCTYPE is not allowed", None, 1, 0)
    return root


#: The BPMN 2.0 model namespace.
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def process_property(root: etree._Element, process_id: str, name: str) -> list[str]:
    """The values of a process-level extension property (`spiffworkflow:property` or
    `camunda:property` named `name` on the `bpmn:process` with id `process_id`)."""
    return [str(v) for v in root.xpath(
        "//bpmn:process[@id=$pid]/bpmn:extensionElements/*/*[local-name()='property']"
        "[@name=$name]/@value", namespaces={"bpmn": BPMN_NS}, pid=process_id, name=name)]
