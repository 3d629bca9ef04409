//! Matching a request path to a resource: literal segments, `{name}` parameters and a final
//! greedy `{name+}`, the most specific resource winning as in API Gateway.

use std::collections::HashMap;

use axum::http::Method;

use super::config::ParsedRoute;

/// One segment of a resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Literal(String),
    Parameter(String),
    Greedy(String),
}

/// The segments of `/a/{b}/{c+}`; `None` for something that is not a resource path.
pub(super) fn parse_resource(resource: &str) -> Option<Vec<Segment>> {
    let rest = resource.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(
            |(i, part)| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.ends_with('+') && i == last && name.len() > 1 => {
                    Some(Segment::Greedy(name.trim_end_matches('+').to_owned()))
                }
                Some(name) if !name.is_empty() && !name.contains(['+', '{', '}']) => {
                    Some(Segment::Parameter(name.to_owned()))
                }
                Some(_) => None,
                None if !part.is_empty() && !part.contains(['{', '}']) => {
                    Some(Segment::Literal((*part).to_owned()))
                }
                None => None,
            },
        )
        .collect()
}

/// What a request path matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Match<'a> {
    /// A route of the resource takes the method.
    Route(&'a ParsedRoute, HashMap<String, String>),
    /// No resource is at the path, or none of its routes takes the method.
    None,
}

/// The route for `method` on `path` (below the stage, starting with `/`).
pub(super) fn find<'a>(routes: &'a [ParsedRoute], method: &Method, path: &str) -> Match<'a> {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let mut best: Option<Candidate<'a>> = None;
    for route in routes {
        if route.method.as_ref().is_some_and(|m| m != method) {
            continue;
        }
        let Some((parameters, (literals, named))) = matches(&route.segments, &parts) else {
            continue;
        };
        // A specific method beats ANY on the same resource.
        let specificity = (literals, named * 2 + usize::from(route.method.is_some()));
        if best.as_ref().is_none_or(|b| specificity > b.specificity) {
            best = Some(Candidate {
                route,
                parameters,
                specificity,
            });
        }
    }
    match best {
        Some(best) => Match::Route(best.route, best.parameters),
        None => Match::None,
    }
}

/// A route that matched, and how closely.
struct Candidate<'a> {
    route: &'a ParsedRoute,
    parameters: HashMap<String, String>,
    specificity: (usize, usize),
}

/// The path parameters when `segments` match `parts`, with how specific the match is: literal
/// segments, then parameters, count before a greedy tail.
fn matches(
    segments: &[Segment],
    parts: &[&str],
) -> Option<(HashMap<String, String>, (usize, usize))> {
    let mut parameters = HashMap::new();
    let (mut literals, mut named) = (0, 0);
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                if parts.len() <= i {
                    return None;
                }
                parameters.insert(name.clone(), parts[i..].join("/"));
                return Some((parameters, (literals, named)));
            }
            Segment::Literal(text) => {
                if parts.get(i) != Some(&text.as_str()) {
                    return None;
                }
                literals += 1;
            }
            Segment::Parameter(name) => {
                let part = parts.get(i)?;
                parameters.insert(name.clone(), (*part).to_owned());
                named += 1;
            }
        }
    }
    (parts.len() == segments.len()).then_some((parameters, (literals, named + 1)))
}

#[cfg(test)]
mod tests {
    use super::super::config::{RestApiConfig, Route};
    use super::*;

    fn routes(routes: &[(&str, &str)]) -> Vec<ParsedRoute> {
        RestApiConfig::new(
            "prod",
            routes.iter().map(|(m, r)| Route::new(*m, *r)).collect(),
        )
        .validate()
        .expect("valid routes")
    }

    fn found(
        routes: &[ParsedRoute],
        method: Method,
        path: &str,
    ) -> Option<(String, HashMap<String, String>)> {
        match find(routes, &method, path) {
            Match::Route(route, parameters) => Some((route.resource.clone(), parameters)),
            Match::None => None,
        }
    }

    #[test]
    fn literal_resources_match_their_method_only() {
        let routes = routes(&[("POST", "/metrics")]);
        assert_eq!(
            found(&routes, Method::POST, "/metrics"),
            Some(("/metrics".to_owned(), HashMap::new()))
        );
        assert_eq!(
            found(&routes, Method::POST, "/metrics/"),
            Some(("/metrics".to_owned(), HashMap::new()))
        );
        assert_eq!(found(&routes, Method::GET, "/metrics"), None);
        assert_eq!(found(&routes, Method::POST, "/other"), None);
        assert_eq!(found(&routes, Method::POST, "/metrics/x"), None);
        assert_eq!(found(&routes, Method::POST, "/"), None);
    }

    #[test]
    fn parameters_and_greedy_tails_are_captured_most_specific_first() {
        let routes = routes(&[
            ("GET", "/items/{id}"),
            ("GET", "/items/special"),
            ("ANY", "/{proxy+}"),
        ]);
        assert_eq!(
            found(&routes, Method::GET, "/items/42"),
            Some((
                "/items/{id}".to_owned(),
                HashMap::from([("id".to_owned(), "42".to_owned())])
            ))
        );
        assert_eq!(
            found(&routes, Method::GET, "/items/special").map(|f| f.0),
            Some("/items/special".to_owned())
        );
        assert_eq!(
            found(&routes, Method::DELETE, "/a/b/c"),
            Some((
                "/{proxy+}".to_owned(),
                HashMap::from([("proxy".to_owned(), "a/b/c".to_owned())])
            ))
        );
        assert_eq!(
            found(&routes, Method::GET, "/"),
            None,
            "a greedy parameter needs a segment"
        );
    }

    #[test]
    fn malformed_resources_are_refused() {
        for bad in ["", "metrics", "/a//b", "/{}", "/{a+}/b", "/{+}", "/a{b}"] {
            assert_eq!(parse_resource(bad), None, "{bad}");
        }
        assert_eq!(parse_resource("/"), Some(Vec::new()));
    }
}
